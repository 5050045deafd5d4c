"""A strict fake Gitea/Forgejo (API v1), written from the public swagger documentation.

Usage::

    gt = FakeGitea(token="gitea-test")
    url = gt.start()
    pr = gt.add_pull_request("owner/app", 3, files=[modified("app.py")])
    ...
    gt.reviews("owner/app", 3)          # what was posted, with its comments
    gt.inject(429, retry_after=7)
    gt.stop()

Strict where the real server is: `Authorization: token <t>` required (401), write scopes
checked (403), lists paginate with `page`/`limit` (default 30, max 50 like Gitea's defaults),
a review's comments must point at a path of the pull request and a line on the side they name
(`new_position` for added/context lines, `old_position` for removed lines, exactly one of
them), else 422 and nothing is posted, statuses accept only Gitea's five states.
(Real Gitea is looser about lines outside the diff and answers 500 for a bad path; being
stricter here is what keeps the adapter honest.)
"""

from __future__ import annotations

import hmac
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .gitea_threads import GiteaThreads
from .model import FakeFile, diff_lines
from .server import FakeServer, Request, Response, json_response, paginate, text_response

STATES = ("pending", "success", "error", "failure", "warning")
REVIEW_EVENTS = ("APPROVED", "REQUEST_CHANGES", "COMMENT", "PENDING")


@dataclass
class FakePR:
    repo: str
    number: int
    files: list[FakeFile]
    title: str = "Add feature"
    body: str = ""
    author: str = "alice"
    draft: bool = False
    labels: list[str] = field(default_factory=list)
    head_ref: str = "feature"
    base_ref: str = "main"
    head_sha: str = ""
    base_sha: str = ""
    merge_base: str = ""
    comments: list[dict[str, Any]] = field(default_factory=list)  # issue comments
    reviews: list[dict[str, Any]] = field(default_factory=list)  # each with "comments"


class FakeGitea(GiteaThreads, FakeServer):
    def __init__(
        self,
        token: str = "gitea-test-token",  # noqa: S107 (a test token)
        bot_login: str = "revisor-bot",
    ) -> None:
        super().__init__()
        self.token: str | None = token
        self.scopes: set[str] = {"write:repository", "write:issue", "read:user"}
        self.bot_login = bot_login
        self.prs: dict[tuple[str, int], FakePR] = {}
        self.files: dict[tuple[str, str, str], str] = {}
        self.statuses: list[dict[str, Any]] = []
        self.rejected: list[tuple[Any, str]] = []
        self._ids = itertools.count(2000)
        self._shas = itertools.count(0xB000)
        self._state_lock = threading.RLock()
        r = r"/api/v1/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        pr = r + r"/pulls/(?P<n>\d+)"
        self.route("GET", r"/api/v1/user", self._get_user)
        self.route("GET", pr, self._get_pr)
        self.route("GET", pr + r"\.diff", self._get_diff)
        self.route("GET", pr + "/reviews", self._get_reviews)
        self.route("POST", pr + "/reviews", self._post_review)
        self.route("GET", pr + r"/reviews/(?P<rid>\d+)/comments", self._get_review_comments)
        self.route("GET", r + r"/issues/(?P<n>\d+)/comments", self._get_comments)
        self.route("POST", r + r"/issues/(?P<n>\d+)/comments", self._post_comment)
        self.route("PATCH", r + r"/issues/comments/(?P<cid>\d+)", self._patch_comment)
        self.route("GET", r + r"/raw/(?P<path>.+)", self._get_raw)
        self.route("POST", r + r"/statuses/(?P<sha>[0-9a-fA-F]+)", self._post_status)
        self._thread_routes(r, pr)  # gitea_threads.py: reactions, resolving, compare

    # --- seeding ----------------------------------------------------------------------------

    def add_pull_request(
        self, repo: str, number: int, files: list[FakeFile], **attrs: Any
    ) -> FakePR:
        with self._state_lock:
            pr = FakePR(repo, number, list(files), **attrs)
            pr.head_sha = pr.head_sha or f"{next(self._shas):040x}"
            pr.base_sha = pr.base_sha or f"{next(self._shas):040x}"
            pr.merge_base = pr.merge_base or pr.base_sha
            self.prs[(repo, number)] = pr
            return pr

    def add_file(self, repo: str, ref: str, path: str, content: str) -> None:
        with self._state_lock:
            self.files[(repo, ref, path)] = content

    def add_comment(
        self, repo: str, number: int, body: str, author: str = "alice"
    ) -> dict[str, Any]:
        with self._state_lock:
            comment = self._comment(body, author)
            self.prs[(repo, number)].comments.append(comment)
            return comment

    def revoke_token(self) -> None:
        self.token = None

    # --- assertions -------------------------------------------------------------------------

    def reviews(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self._state_lock:
            return list(self.prs[(repo, number)].reviews)

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self._state_lock:
            return list(self.prs[(repo, number)].comments)

    def commit_statuses(self, sha: str | None = None) -> list[dict[str, Any]]:
        with self._state_lock:
            return [s for s in self.statuses if sha is None or s["sha"] == sha]

    # --- server behaviour -------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if (
            self.token is None
            or scheme.lower() not in {"token", "bearer"}
            or not hmac.compare_digest(given.encode(), self.token.encode())
        ):
            return json_response({"message": "user does not exist [uid: 0, name: ]"}, 401)
        if request.method != "GET":
            needed = "write:issue" if "/issues/" in request.path else "write:repository"
            if needed not in self.scopes:
                return json_response(
                    {
                        "message": "token does not have at least one of required scope(s): "
                        f"[{needed}]"
                    },
                    403,
                )
        return None

    def not_found(self, request: Request) -> Response:
        return json_response({"errors": None, "message": "The target couldn't be found."}, 404)

    def _pr(self, request: Request) -> FakePR | None:
        key = (f"{request.params['owner']}/{request.params['repo']}", int(request.params["n"]))
        return self.prs.get(key)

    def _user(self, login: str) -> dict[str, Any]:
        return {"id": 99 if login == self.bot_login else 2, "login": login, "username": login}

    def _comment(self, body: str, author: str) -> dict[str, Any]:
        return {"id": next(self._ids), "body": body, "user": self._user(author)}

    def _get_user(self, request: Request) -> Response:
        return json_response(self._user(self.bot_login))

    def _get_pr(self, request: Request) -> Response:
        pr = self._pr(request)
        if pr is None:
            return self.not_found(request)
        return json_response(
            {
                "id": 7000 + pr.number,
                "number": pr.number,
                "title": pr.title,
                "body": pr.body,
                "state": "open",
                "draft": pr.draft,
                "user": self._user(pr.author),
                "labels": [{"id": i, "name": n} for i, n in enumerate(pr.labels)],
                "head": {"ref": pr.head_ref, "sha": pr.head_sha},
                "base": {"ref": pr.base_ref, "sha": pr.base_sha},
                "merge_base": pr.merge_base,
                "html_url": f"{self.url}/{pr.repo}/pulls/{pr.number}",
            }
        )

    def _get_diff(self, request: Request) -> Response:
        pr = self._pr(request)
        if pr is None:
            return self.not_found(request)
        return text_response("".join(f.git_diff() for f in pr.files))

    def _get_reviews(self, request: Request) -> Response:
        pr = self._pr(request)
        if pr is None:
            return self.not_found(request)
        with self._state_lock:
            items = [{k: v for k, v in r.items() if k != "comments"} for r in pr.reviews]
        page, headers = paginate(
            items, request, default=30, maximum=50, size_param="limit", base_url=self.url
        )
        return json_response(page, headers=headers)

    def _get_review_comments(self, request: Request) -> Response:
        pr = self._pr(request)
        review = (
            None
            if pr is None
            else next((r for r in pr.reviews if r["id"] == int(request.params["rid"])), None)
        )
        if review is None:
            return self.not_found(request)
        return json_response(review["comments"])

    def _comment_error(self, pr: FakePR, c: Any) -> str | None:
        if not isinstance(c, dict) or not str(c.get("body") or "").strip():
            return "comment body is empty"
        file = next(
            (f for f in pr.files if c.get("path") == (f.old if f.deleted_file else f.new_path)),
            None,
        )
        if file is None or file.binary:
            return f"path {c.get('path')!r} is not a text file of this pull request"
        new, old = int(c.get("new_position") or 0), int(c.get("old_position") or 0)
        if (new > 0) == (old > 0):
            return "exactly one of new_position and old_position must be set"
        lines = diff_lines(file.diff)
        if new and not any(n == new for _, n in lines):
            return f"new_position {new} is not a line of the diff"
        if old and (old, None) not in lines and not any(o == old for o, n in lines if n):
            return f"old_position {old} is not a line of the diff"
        return None

    def _post_review(self, request: Request) -> Response:
        pr = self._pr(request)
        if pr is None:
            return self.not_found(request)
        data = request.json() or {}
        if data.get("event") not in REVIEW_EVENTS:
            return json_response({"message": f"unknown review event {data.get('event')!r}"}, 422)
        commit = data.get("commit_id") or pr.head_sha
        if commit != pr.head_sha:
            return json_response(
                {"message": f"commit {commit} is not the pull request's head"}, 422
            )
        comments = data.get("comments") or []
        if not comments and not str(data.get("body") or "").strip():
            return json_response(
                {"message": "review event COMMENT requires a body or comment"}, 422
            )
        with self._state_lock:
            for c in comments:
                why = self._comment_error(pr, c)
                if why is not None:
                    self.rejected.append((c, why))
                    return json_response({"message": why}, 422)
            rid = next(self._ids)
            review = {
                "id": rid,
                "user": self._user(self.bot_login),
                "state": data["event"],
                "body": data.get("body") or "",
                "commit_id": commit,
                "comments_count": len(comments),
                "comments": [
                    {
                        "id": next(self._ids),
                        "body": c["body"],
                        "user": self._user(self.bot_login),
                        "pull_request_review_id": rid,
                        "path": c["path"],
                        "commit_id": commit,
                        "position": int(c.get("new_position") or 0),
                        "original_position": int(c.get("old_position") or 0),
                    }
                    for c in comments
                ],
            }
            pr.reviews.append(review)
        return json_response({k: v for k, v in review.items() if k != "comments"})

    def _get_comments(self, request: Request) -> Response:
        # Gitea's issue-comments endpoint is not paginated (only `since`/`before`).
        pr = self._pr(request)
        if pr is None:
            return self.not_found(request)
        with self._state_lock:
            return json_response(list(pr.comments))

    def _post_comment(self, request: Request) -> Response:
        pr = self._pr(request)
        if pr is None:
            return self.not_found(request)
        body = str((request.json() or {}).get("body") or "")
        if not body.strip():
            return json_response({"message": "[Body]: Required"}, 422)
        with self._state_lock:
            comment = self._comment(body, self.bot_login)
            pr.comments.append(comment)
        return json_response(comment, 201)

    def _patch_comment(self, request: Request) -> Response:
        repo = f"{request.params['owner']}/{request.params['repo']}"
        cid = int(request.params["cid"])
        body = str((request.json() or {}).get("body") or "")
        with self._state_lock:
            for (r, _), pr in self.prs.items():
                if r != repo:
                    continue
                for comment in pr.comments:
                    if comment["id"] == cid:
                        if comment["user"]["login"] != self.bot_login:
                            return json_response({"message": "Forbidden"}, 403)
                        if not body.strip():
                            return json_response({"message": "[Body]: Required"}, 422)
                        comment["body"] = body
                        return json_response(comment)
        return self.not_found(request)

    def _get_raw(self, request: Request) -> Response:
        repo = f"{request.params['owner']}/{request.params['repo']}"
        ref = request.query.get("ref", "main")
        content = self.files.get((repo, ref, unquote(request.params["path"])))
        if content is None:
            return self.not_found(request)
        return text_response(content)

    def _post_status(self, request: Request) -> Response:
        repo = f"{request.params['owner']}/{request.params['repo']}"
        sha = request.params["sha"].lower()
        if not any(pr.head_sha == sha for (r, _), pr in self.prs.items() if r == repo):
            return self.not_found(request)
        data = request.json() or {}
        if data.get("state") not in STATES:
            return json_response({"message": f"invalid state {data.get('state')!r}"}, 422)
        status = {
            "id": next(self._ids),
            "sha": sha,
            "status": data["state"],
            "context": data.get("context") or "default",
            "target_url": data.get("target_url") or "",
            "description": data.get("description") or "",
        }
        with self._state_lock:
            self.statuses.append(status)
        return json_response(status, 201)
