"""Gitea's and Forgejo's conversation side (`forges.base.Conversations`), mixed into
`GiteaForge`.

- threads: the API has no review threads, only review comments; those on the same file and line
  make one conversation (as the web UI shows them), whose id is its first comment's. A reply is
  a new one-comment review on that line; when the line has left the diff, a plain comment.
  Plain comments (`issues/{n}/comments`) are one-note threads (`comment:<id>`).
- resolving: `POST /repos/{owner}/{repo}/pulls/comments/{id}/resolve` (Gitea 1.26); Forgejo has
  no such endpoint (404/405): `resolve` then says it could not.
- feedback: `GET .../issues/comments/{id}/reactions` (`-1`), which also serves review comments.
- who may command Revisor: `GET .../collaborators/{login}/permission`: read or more.
- incremental review: `GET .../pulls/{n}/commits` tells whether the last reviewed head is still
  in the pull request's history; `GET .../compare/{old}...{new}` lists the files its commits
  touched.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from revisor.domain import MergeRequest, Thread, ThreadNote
from revisor.forges.base import ForgeRefused

_READERS = frozenset({"read", "write", "admin", "owner"})
_PLAIN = "comment:"


class _Plumbing(Protocol):
    """The parts of `GiteaForge` these methods use."""

    _repo_path: str

    def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any: ...

    def _request(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any: ...

    def _get_all(self, path: str, *, what: str) -> list[Any]: ...

    def _bot(self) -> str: ...

    def _issue_comments(self, mr: MergeRequest) -> list[Any]: ...

    def _post_review(self, mr: MergeRequest, comments: list[dict[str, Any]]) -> None: ...


def _note(c: dict[str, Any], bot: str) -> ThreadNote:
    login = str((c.get("user") or {}).get("login") or "")
    return ThreadNote(str(c["id"]), login, str(c.get("body") or ""), login == bot)


def _line(c: dict[str, Any]) -> tuple[str, int, int]:
    return (
        str(c.get("path") or ""),
        int(c.get("position") or 0),
        int(c.get("original_position") or 0),
    )


class GiteaConversations:
    def bot_name(self: _Plumbing) -> str:
        return self._bot()

    def list_threads(self: _Plumbing, mr: MergeRequest) -> list[Thread]:
        bot = self._bot()
        n = mr.ref.number
        grouped: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        reviews = self._get_all(
            f"{self._repo_path}/pulls/{n}/reviews", what=f"list the reviews of pull request #{n}"
        )
        for review in reviews:
            comments = self._json(
                "GET",
                f"{self._repo_path}/pulls/{n}/reviews/{review['id']}/comments",
                what=f"list the comments of review {review['id']}",
            )
            for c in comments or []:
                grouped.setdefault(_line(c), []).append(c)
        threads = []
        for (path, new, old), comments in grouped.items():
            comments.sort(key=lambda c: int(c["id"]))
            threads.append(
                Thread(
                    thread_id=str(comments[0]["id"]),
                    notes=tuple(_note(c, bot) for c in comments),
                    path=path,
                    new_line=new or None,
                    old_line=old or None,
                    resolvable=True,
                    resolved=bool(comments[0].get("resolver")),
                )
            )
        threads += [
            Thread(f"{_PLAIN}{c['id']}", (_note(c, bot),)) for c in self._issue_comments(mr)
        ]
        return threads

    def reply(self: _Plumbing, mr: MergeRequest, thread: Thread, body: str) -> None:
        n = mr.ref.number
        if not thread.thread_id.startswith(_PLAIN) and thread.path:
            line: dict[str, Any] = (
                {"new_position": thread.new_line}
                if thread.new_line
                else {"old_position": thread.old_line}
            )
            try:
                self._post_review(mr, [{"path": thread.path, "body": body, **line}])
                return
            except ForgeRefused as exc:
                if exc.status not in (400, 422):
                    raise
                # The line is no longer in the diff: answer as a plain comment instead.
        self._json(
            "POST",
            f"{self._repo_path}/issues/{n}/comments",
            what=f"reply on pull request #{n}",
            json={"body": body},
        )

    def resolve(self: _Plumbing, mr: MergeRequest, thread: Thread) -> bool:
        if thread.thread_id.startswith(_PLAIN) or not thread.thread_id.isdigit():
            return False
        try:
            self._request(
                "POST",
                f"{self._repo_path}/pulls/comments/{thread.thread_id}/resolve",
                what=f"resolve a conversation of pull request #{mr.ref.number}",
            )
        except ForgeRefused as exc:
            if exc.status in (404, 405):  # Forgejo, or a Gitea before 1.26: no such endpoint
                return False
            raise
        return True

    def thumbs_down(self: _Plumbing, mr: MergeRequest, note_id: str) -> tuple[tuple[str, str], ...]:
        if not note_id.isdigit():
            return ()
        try:
            reactions = self._json(
                "GET",
                f"{self._repo_path}/issues/comments/{note_id}/reactions",
                what=f"list the reactions to comment {note_id}",
            )
        except ForgeRefused as exc:
            if exc.status == 404:
                return ()
            raise
        found = []
        for r in reactions or []:
            user = r.get("user") or {}
            if r.get("content") == "-1":
                uid = user.get("id")
                found.append(
                    (str(uid) if isinstance(uid, int) else "", str(user.get("login") or ""))
                )
        return tuple(found)

    def can_read(self: _Plumbing, user_id: str, username: str) -> bool:
        if not username:
            return False
        try:
            found = self._json(
                "GET",
                f"{self._repo_path}/collaborators/{quote(username, safe='')}/permission",
                what=f"check the permission of {username}",
            )
        except ForgeRefused as exc:
            if exc.status == 404:
                return False
            raise
        return isinstance(found, dict) and found.get("permission") in _READERS

    def changed_paths(self: _Plumbing, mr: MergeRequest, since_sha: str) -> tuple[str, ...] | None:
        if since_sha == mr.head_sha:
            return ()
        n = mr.ref.number
        commits = self._get_all(
            f"{self._repo_path}/pulls/{n}/commits", what=f"list the commits of pull request #{n}"
        )
        if since_sha not in {c.get("sha") for c in commits}:
            return None
        basehead = f"{quote(since_sha, safe='')}...{quote(mr.head_sha, safe='')}"
        compare = self._json(
            "GET",
            f"{self._repo_path}/compare/{basehead}",
            what=f"compare {since_sha[:12]} with {mr.head_sha[:12]}",
        )
        paths: set[str] = set()
        for commit in (compare.get("commits") if isinstance(compare, dict) else None) or []:
            paths.update(str(f["filename"]) for f in commit.get("files") or [] if f.get("filename"))
        return tuple(sorted(paths))
