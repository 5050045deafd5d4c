"""GitLab's conversation side (`forges.base.Conversations`), mixed into `GitLabForge`.

- threads: `GET .../merge_requests/:iid/discussions` (every plain note is an
  `individual_note` discussion too); a reply is `POST .../discussions/:id/notes`, resolving is
  `PUT .../discussions/:id` with `resolved=true` (403 for a discussion that is not resolvable);
- feedback: `GET .../notes/:note_id/award_emoji` (`thumbsdown`);
- who may command Revisor: `GET /projects/:id/members/all/:user_id`, Reporter (20) or more,
  the lowest role that can read a private project's code; no membership: no;
- incremental review: the merge request's commits (`.../commits`) tell whether the last
  reviewed head is still in its history; `GET /projects/:id/repository/compare?straight=true`
  from it to the new head lists the paths changed since.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from revisor.domain import MergeRequest, Thread, ThreadNote
from revisor.forges.base import ForgeRefused

REPORTER = 20  # GitLab's access level that can read a private project's repository


class _Plumbing(Protocol):
    """The parts of `GitLabForge` these methods use."""

    _pid: str

    @property
    def _mr_path(self) -> str: ...

    def _json(self, verb: str, path: str, *, what: str, **kwargs: Any) -> Any: ...

    def _get_all(
        self, path: str, *, what: str, query: dict[str, Any] | None = None
    ) -> list[Any]: ...

    def _bot_user_id(self) -> int: ...


def _who(user: dict[str, Any], name_key: str) -> tuple[str, str]:
    uid = user.get("id")
    return (str(uid) if isinstance(uid, int) else "", str(user.get(name_key) or ""))


def _discussion_path(lab: _Plumbing, mr: MergeRequest, thread_id: str) -> str:
    return f"{lab._mr_path}/{mr.ref.number}/discussions/{quote(thread_id, safe='')}"


def _thread(discussion: dict[str, Any], bot: int) -> Thread | None:
    notes = [n for n in discussion.get("notes") or [] if not n.get("system")]
    if not notes:
        return None
    position = notes[0].get("position") or {}
    resolvable = [n for n in notes if n.get("resolvable")]
    return Thread(
        thread_id=str(discussion["id"]),
        notes=tuple(
            ThreadNote(
                str(n["id"]),
                str((n.get("author") or {}).get("username") or ""),
                str(n.get("body") or ""),
                (n.get("author") or {}).get("id") == bot,
            )
            for n in notes
        ),
        path=str(position.get("new_path") or ""),
        new_line=position.get("new_line"),
        old_line=position.get("old_line"),
        resolvable=bool(resolvable),
        resolved=bool(resolvable) and all(n.get("resolved") for n in resolvable),
    )


class GitLabConversations:
    def bot_name(self: _Plumbing) -> str:
        user = self._json("get", "/user", what="identify the bot user")
        return str(user.get("username") or "") if isinstance(user, dict) else ""

    def list_threads(self: _Plumbing, mr: MergeRequest) -> list[Thread]:
        bot = self._bot_user_id()
        found = self._get_all(
            f"{self._mr_path}/{mr.ref.number}/discussions",
            what=f"list the threads of merge request !{mr.ref.number}",
        )
        return [t for d in found if (t := _thread(d, bot)) is not None]

    def reply(self: _Plumbing, mr: MergeRequest, thread: Thread, body: str) -> None:
        self._json(
            "post",
            _discussion_path(self, mr, thread.thread_id) + "/notes",
            what=f"reply in a thread of merge request !{mr.ref.number}",
            data={"body": body},
        )

    def resolve(self: _Plumbing, mr: MergeRequest, thread: Thread) -> bool:
        try:
            self._json(
                "put",
                _discussion_path(self, mr, thread.thread_id),
                what=f"resolve a thread of merge request !{mr.ref.number}",
                data={"resolved": True},
            )
        except ForgeRefused as exc:
            if exc.status == 403:  # not resolvable, or the bot's role may not resolve it
                return False
            raise
        return True

    def thumbs_down(self: _Plumbing, mr: MergeRequest, note_id: str) -> tuple[tuple[str, str], ...]:
        if not note_id.isdigit():
            return ()
        try:
            awards = self._get_all(
                f"{self._mr_path}/{mr.ref.number}/notes/{note_id}/award_emoji",
                what=f"list the reactions to note {note_id}",
            )
        except ForgeRefused as exc:
            if exc.status == 404:  # the note was deleted
                return ()
            raise
        return tuple(
            _who(a.get("user") or {}, "username") for a in awards if a.get("name") == "thumbsdown"
        )

    def can_read(self: _Plumbing, user_id: str, username: str) -> bool:
        if not user_id.isdigit():
            return False
        try:
            member = self._json(
                "get",
                f"/projects/{self._pid}/members/all/{user_id}",
                what=f"check the role of {username or user_id}",
            )
        except ForgeRefused as exc:
            if exc.status == 404:  # no membership
                return False
            raise
        level = member.get("access_level") if isinstance(member, dict) else None
        return isinstance(level, int) and level >= REPORTER

    def changed_paths(self: _Plumbing, mr: MergeRequest, since_sha: str) -> tuple[str, ...] | None:
        if since_sha == mr.head_sha:
            return ()
        commits = self._get_all(
            f"{self._mr_path}/{mr.ref.number}/commits",
            what=f"list the commits of merge request !{mr.ref.number}",
        )
        if since_sha not in {c.get("id") for c in commits}:
            return None
        compare = self._json(
            "get",
            f"/projects/{self._pid}/repository/compare",
            what=f"compare {since_sha[:12]} with {mr.head_sha[:12]}",
            query={"from": since_sha, "to": mr.head_sha, "straight": "true"},
        )
        paths: set[str] = set()
        for diff in (compare.get("diffs") if isinstance(compare, dict) else None) or []:
            paths.update(p for p in (diff.get("old_path"), diff.get("new_path")) if p)
        return tuple(sorted(paths))
