"""The conversation side of the strict fake Gitea/Forgejo: review-comment replies, resolving
conversations, reactions, collaborator permissions, pull request commits and compare. Written
from Gitea's swagger (`/repos/{owner}/{repo}/issues/comments/{id}/reactions`,
`.../collaborators/{collaborator}/permission`, `.../pulls/{index}/commits`,
`.../compare/{basehead}`, `.../pulls/comments/{id}/resolve` from Gitea 1.26) and its models.

Strict where Gitea is:
- the API has no review threads: review comments on the same file and line make one
  conversation (as the web UI groups them); a reply is a new one-comment review on that line,
  and a person's reply through the UI is attached to the review it answers;
- reactions: the comment must exist (404) and the content must be one of the allowed
  reactions (403 `'x' is not an allowed reaction`), else nothing is stored;
- resolving: only a review (code) comment can be resolved (400 otherwise), an unknown id is 404;
  `forgejo = True` makes the fake a Forgejo, whose API has no resolve endpoint (404);
- collaborator permission: 404 for a user that does not exist, `none` for one without access;
- compare: both refs must exist (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .server import Request, Response, json_response, paginate

if TYPE_CHECKING:
    from .fake_gitea import FakeGitea, FakePR

REACTIONS = frozenset({"+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"})


class GiteaThreads:
    """Mixed into `FakeGitea`; `_thread_routes()` registers the routes."""

    def _thread_routes(self: FakeGitea, r: str, pr: str) -> None:
        self.forgejo = False
        self.permissions: dict[str, str] = {"alice": "write", "bob": "write", "mallory": "none"}
        self.permissions[self.bot_login] = "write"
        self.reactions: dict[int, list[dict[str, Any]]] = {}
        # (repo, number) -> commits oldest first: (sha, paths that commit touched)
        self.pr_commits: dict[tuple[str, int], list[tuple[str, tuple[str, ...]]]] = {}
        reactions = r + r"/issues/comments/(?P<cid>\d+)/reactions"
        self.route("GET", reactions, self._get_reactions)
        self.route("POST", reactions, self._post_reaction)
        self.route("POST", r + r"/pulls/comments/(?P<cid>\d+)/resolve", self._post_resolve)
        self.route("GET", r + r"/collaborators/(?P<login>[^/]+)/permission", self._get_permission)
        self.route("GET", pr + "/commits", self._get_commits)
        self.route("GET", r + r"/compare/(?P<basehead>[^/]+)", self._get_compare)

    # --- seeding ----------------------------------------------------------------------------

    def reply_as(
        self: FakeGitea, repo: str, number: int, comment_id: int, body: str, author: str
    ) -> dict[str, Any]:
        """A person replies in a conversation through the web UI: the comment is attached to
        the review of the comment it answers, on the same file and line."""
        with self._state_lock:
            pr = self.prs[(repo, number)]
            for review in pr.reviews:
                for c in review["comments"]:
                    if c["id"] == comment_id:
                        reply = {**c, "id": next(self._ids), "body": body}
                        reply["user"] = self._user(author)
                        review["comments"].append(reply)
                        return reply
        raise AssertionError(f"no review comment {comment_id}")

    def react(self: FakeGitea, comment_id: int, content: str, user: str) -> dict[str, Any]:
        with self._state_lock:
            reaction = {"user": self._user(user), "content": content, "created_at": "2026-11-30"}
            self.reactions.setdefault(comment_id, []).append(reaction)
            return reaction

    def push_commit(
        self: FakeGitea,
        repo: str,
        number: int,
        files: list[Any] | None = None,
        touched: tuple[str, ...] = (),
        *,
        force: bool = False,
    ) -> str:
        """A push of one commit touching `touched`; `files` is the pull request's diff after
        it. `force`: the branch was rewritten, earlier commits are gone."""
        with self._state_lock:
            pr = self.prs[(repo, number)]
            commits = self._commits(pr)
            pr.head_sha = f"{next(self._shas):040x}"
            if files is not None:
                pr.files = list(files)
            if force:
                commits.clear()
                touched = tuple(f.new_path for f in pr.files)
            commits.append((pr.head_sha, touched))
            return pr.head_sha

    def conversation(self: FakeGitea, repo: str, number: int, comment_id: int) -> list[Any]:
        """Every review comment on the same file and line as `comment_id`, oldest first."""
        with self._state_lock:
            every = [c for rv in self.prs[(repo, number)].reviews for c in rv["comments"]]
            first = next(c for c in every if c["id"] == comment_id)
            return [c for c in every if _same_line(c, first)]

    # --- helpers ----------------------------------------------------------------------------

    def _commits(self: FakeGitea, pr: FakePR) -> list[tuple[str, tuple[str, ...]]]:
        found = self.pr_commits.get((pr.repo, pr.number))
        if found is None:
            found = self.pr_commits[(pr.repo, pr.number)] = [
                (pr.head_sha, tuple(f.new_path for f in pr.files))
            ]
        return found

    def _any_comment(self: FakeGitea, repo: str, cid: int) -> tuple[str, Any] | None:
        """("issue" | "review", comment) for a comment of `repo`, else None."""
        for (r, _), pr in self.prs.items():
            if r != repo:
                continue
            for c in pr.comments:
                if c["id"] == cid:
                    return "issue", c
            for review in pr.reviews:
                for c in review["comments"]:
                    if c["id"] == cid:
                        return "review", c
        return None

    # --- routes -------------------------------------------------------------------------------

    def _repo(self: FakeGitea, request: Request) -> str:
        return f"{request.params['owner']}/{request.params['repo']}"

    def _get_reactions(self: FakeGitea, request: Request) -> Response:
        cid = int(request.params["cid"])
        with self._state_lock:
            if self._any_comment(self._repo(request), cid) is None:
                return self.not_found(request)
            return json_response(list(self.reactions.get(cid, [])))

    def _post_reaction(self: FakeGitea, request: Request) -> Response:
        cid = int(request.params["cid"])
        content = str((request.json() or {}).get("content") or "")
        with self._state_lock:
            if self._any_comment(self._repo(request), cid) is None:
                return self.not_found(request)
            if content not in REACTIONS:
                return json_response({"message": f"'{content}' is not an allowed reaction"}, 403)
            return json_response(self.react(cid, content, self.bot_login), 201)

    def _post_resolve(self: FakeGitea, request: Request) -> Response:
        if self.forgejo:  # Forgejo's API has no such route
            return self.not_found(request)
        cid = int(request.params["cid"])
        with self._state_lock:
            found = self._any_comment(self._repo(request), cid)
            if found is None:
                return self.not_found(request)
            kind, comment = found
            if kind != "review":
                return json_response({"message": "comment is not a code comment"}, 400)
            comment["resolver"] = self._user(self.bot_login)
        return Response(204)

    def _get_permission(self: FakeGitea, request: Request) -> Response:
        login = request.params["login"]
        permission = self.permissions.get(login)
        if permission is None:
            return json_response({"message": f"user redirect does not exist [name: {login}]"}, 404)
        return json_response(
            {"permission": permission, "role_name": permission, "user": self._user(login)}
        )

    def _get_commits(self: FakeGitea, request: Request) -> Response:
        pr = self._pr(request)
        if pr is None:
            return self.not_found(request)
        with self._state_lock:
            commits = list(self._commits(pr))
        items = [
            {"sha": sha, "files": [{"filename": p, "status": "modified"} for p in touched]}
            for sha, touched in commits
        ]
        page, headers = paginate(
            items, request, default=30, maximum=50, size_param="limit", base_url=self.url
        )
        return json_response(page, headers=headers)

    def _get_compare(self: FakeGitea, request: Request) -> Response:
        base, dots, head = request.params["basehead"].partition("...")
        if not dots:
            base, dots, head = request.params["basehead"].partition("..")
        repo = self._repo(request)
        with self._state_lock:
            history = [c for (r, _), pr in self.prs.items() if r == repo for c in self._commits(pr)]
        shas = [sha for sha, _ in history]
        if base not in shas or head not in shas:
            return self.not_found(request)
        lo, hi = shas.index(base), shas.index(head)
        between = history[lo + 1 : hi + 1] if lo < hi else []
        return json_response(
            {
                "total_commits": len(between),
                "commits": [
                    {"sha": sha, "files": [{"filename": p, "status": "modified"} for p in t]}
                    for sha, t in between
                ],
            }
        )


def _same_line(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["path"], a["position"], a["original_position"]) == (
        b["path"],
        b["position"],
        b["original_position"],
    )
