"""Gitea / Forgejo adapter (httpx through `Egress.client`), the only module that knows their API.

Gitea's review API takes all inline comments in one `POST .../pulls/{n}/reviews`, and a bad
comment makes the whole request fail (real Gitea answers 500, or worse leaves the comments
before the bad one as pending drafts). So comments are first checked against the pull
request's own diff, and only positions that are really in it are sent; the others become
`RejectedComment`s. If the server still refuses the batch with a 4xx, each comment is sent as
its own review, so one bad position cannot sink the rest.

Positions: `new_position` = line in the new file (added and context lines), `old_position` =
line in the old file (removed lines); exactly one of them is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from revisor import metrics
from revisor.domain import (
    ExistingComment,
    FileDiff,
    ForgeKind,
    InlineComment,
    LineKind,
    MergeRequest,
    MergeRequestRef,
    PostResult,
    RejectedComment,
    StatusState,
    SuggestionStyle,
)
from revisor.egress import Egress
from revisor.errors import ForgeError, ForgeUnavailable
from revisor.forges.base import (
    DEFAULT_RETRY,
    STATUS_NAME,
    ForgeRefused,
    ForgeTarget,
    RequestNotSent,
    RetryPolicy,
    call_with_retries,
    error_for_status,
    reason_from_body,
    scrub,
)
from revisor.forges.gitea.threads import GiteaConversations
from revisor.text.diff import parse_unified
from revisor.text.inert import inert_fields
from revisor.text.markers import SUMMARY_MARKER, find_fingerprint, is_summary

log = logging.getLogger(__name__)

PAGE_LIMIT = 50  # Gitea's default MAX_RESPONSE_ITEMS
MAX_PAGES = 200
_STATE = {
    StatusState.PENDING: "pending",
    StatusState.RUNNING: "pending",  # Gitea has no "running"
    StatusState.SUCCESS: "success",
    StatusState.FAILED: "failure",
    StatusState.ERROR: "error",
    StatusState.CANCELLED: "warning",  # Gitea has no "cancelled"; "warning" gives no verdict
}
_WIP_PREFIXES = ("wip:", "[wip]")  # Gitea's default WORK_IN_PROGRESS_PREFIXES


class GiteaForge(GiteaConversations):
    """`Forge` (and `Conversations`, in `threads.py`) for one Gitea or Forgejo repository."""

    def __init__(
        self,
        target: ForgeTarget,
        egress: Egress,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        owner, _, name = target.project.partition("/")
        if not owner or not name or "/" in name:
            raise ForgeError(f"Gitea project must be 'owner/repo', got {target.project!r}")
        self._server = target.server
        self._project = target.project
        self._repo_path = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
        self._token = target.token
        self._retry = retry
        self._sleep = sleep
        self._client = egress.client(
            f"{target.server}/api/v1",
            purpose="gitea api",
            ca_file=target.ca_file,
            timeout=timeout,
            headers={"Authorization": f"token {target.token}", "Accept": "application/json"},
        )
        self._client.event_hooks["response"].append(metrics.httpx_hook("gitea"))
        self.server_date: str | None = None  # the Date header of the latest answer
        self._client.event_hooks["response"].append(self._note_date)
        self._bot_login: str | None = None
        self._diff_cache: tuple[str, list[FileDiff]] | None = None  # (head sha, files)

    def close(self) -> None:
        self._client.close()

    # --- HTTP plumbing ----------------------------------------------------------------------

    def _note_date(self, response: httpx.Response) -> None:
        self.server_date = response.headers.get("date") or self.server_date

    def probe(self, path: str) -> tuple[int, Any]:
        """One GET for `revisor doctor`: its status and JSON body. A refusal (4xx) comes back
        as its status with no body instead of raising; anything else raises as usual."""
        try:
            return 200, self._json("GET", path, what=f"read {path}")
        except ForgeRefused as exc:
            return exc.status, None

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        json = inert_fields(json)  # every text we send is inert: no quick action, no link

        def once() -> httpx.Response:
            try:
                response = self._client.request(method, path, params=params, json=json)
            except httpx.ConnectTimeout:
                raise RequestNotSent(f"{self._server}: connecting timed out ({what})") from None
            except httpx.TimeoutException:
                raise ForgeUnavailable(f"{self._server} did not answer in time ({what})") from None
            except httpx.ConnectError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    raise ForgeError(
                        f"TLS verification of {self._server} failed while trying to {what}: if "
                        "it uses an internal CA, register the repository with its CA bundle "
                        "(--ca-file)"
                    ) from None
                raise RequestNotSent(f"cannot reach {self._server} ({what})") from None
            except httpx.TransportError as exc:
                raise ForgeUnavailable(
                    f"{self._server}: {what} failed: {type(exc).__name__}"
                ) from None
            if response.is_redirect:
                raise ForgeError(
                    f"{self._server} redirected {what} to another address; redirects are not "
                    "followed with the token: register the server's final URL"
                )
            if response.is_error:
                raise error_for_status(
                    response.status_code,
                    server=self._server,
                    what=what,
                    detail=scrub(_message(response), self._token),
                    retry_after=response.headers.get("Retry-After"),
                )
            return response

        return call_with_retries(
            once, self._retry, idempotent=method in {"GET", "PATCH"}, sleep=self._sleep
        )

    def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        response = self._request(method, path, what=what, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ForgeError(
                f"{self._server} answered {what} with something that is not JSON"
            ) from None

    def _get_all(self, path: str, *, what: str) -> list[Any]:
        """All pages of a `page`/`limit` list; stops at a short or empty page."""
        items: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            batch = self._json("GET", path, what=what, params={"page": page, "limit": PAGE_LIMIT})
            if not isinstance(batch, list):
                raise ForgeError(
                    f"{self._server} answered {what} with something that is not a list"
                )
            items.extend(batch)
            if len(batch) < PAGE_LIMIT:
                return items
        raise ForgeError(f"{self._server}: {what} has more than {MAX_PAGES} pages; giving up")

    def _bot(self) -> str:
        if self._bot_login is None:
            user = self._json("GET", "/user", what="identify the bot user")
            self._bot_login = str(user["login"])
        return self._bot_login

    # --- Forge ------------------------------------------------------------------------------

    @property
    def suggestion_style(self) -> SuggestionStyle:
        return SuggestionStyle.DIFF  # Gitea and Forgejo have no suggestion blocks: a fenced diff

    def fetch_merge_request(self, number: int) -> MergeRequest:
        what = f"read pull request #{number} of {self._project}"
        data = self._json("GET", f"{self._repo_path}/pulls/{number}", what=what)
        title = data.get("title") or ""
        head, base = data.get("head") or {}, data.get("base") or {}
        return MergeRequest(
            ref=MergeRequestRef(ForgeKind.GITEA, self._project, number),
            title=title,
            description=data.get("body") or "",
            author=(data.get("user") or {}).get("login", ""),
            draft=bool(data.get("draft")) or title.lower().startswith(_WIP_PREFIXES),
            labels=tuple(str(label.get("name", "")) for label in data.get("labels") or []),
            source_branch=head.get("ref") or "",
            target_branch=base.get("ref") or "",
            head_sha=head.get("sha") or "",
            base_sha=data.get("merge_base") or base.get("sha") or "",
            start_sha=base.get("sha") or "",
            web_url=data.get("html_url") or "",
        )

    def list_changes(self, mr: MergeRequest) -> list[FileDiff]:
        if self._diff_cache is not None and self._diff_cache[0] == mr.head_sha:
            return list(self._diff_cache[1])
        response = self._request(
            "GET",
            f"{self._repo_path}/pulls/{mr.ref.number}.diff",
            what=f"read the diff of pull request #{mr.ref.number}",
        )
        try:
            files = parse_unified(response.text)
        except ValueError as exc:
            raise ForgeError(
                f"{self._server} sent a diff for pull request #{mr.ref.number} that does not "
                f"parse: {exc}"
            ) from None
        self._diff_cache = (mr.head_sha, files)
        return list(files)

    def read_file(self, path: str, ref: str) -> str | None:
        try:
            response = self._request(
                "GET",
                f"{self._repo_path}/raw/{quote(path)}",
                what=f"read {path} at {ref[:12]}",
                params={"ref": ref},
            )
        except ForgeRefused as exc:
            if exc.status == 404:
                return None
            raise
        return response.content.decode("utf-8", errors="replace")

    def _issue_comments(self, mr: MergeRequest) -> list[Any]:
        # Not paginated by Gitea (it only takes `since`/`before`): one request returns all.
        comments = self._json(
            "GET",
            f"{self._repo_path}/issues/{mr.ref.number}/comments",
            what=f"list the comments of pull request #{mr.ref.number}",
        )
        return comments if isinstance(comments, list) else []

    def list_bot_comments(self, mr: MergeRequest) -> list[ExistingComment]:
        bot = self._bot()
        found: list[ExistingComment] = []
        for c in self._issue_comments(mr):
            if (c.get("user") or {}).get("login") == bot:
                body = c.get("body") or ""
                found.append(
                    ExistingComment(str(c["id"]), body, find_fingerprint(body), is_summary(body))
                )
        reviews = self._get_all(
            f"{self._repo_path}/pulls/{mr.ref.number}/reviews",
            what=f"list the reviews of pull request #{mr.ref.number}",
        )
        for review in reviews:
            if (review.get("user") or {}).get("login") != bot:
                continue
            comments = self._json(
                "GET",
                f"{self._repo_path}/pulls/{mr.ref.number}/reviews/{review['id']}/comments",
                what=f"list the comments of review {review['id']}",
            )
            for c in comments or []:
                body = c.get("body") or ""
                found.append(
                    ExistingComment(
                        f"review-comment:{c['id']}", body, find_fingerprint(body), False
                    )
                )
        return found

    def post_comments(self, mr: MergeRequest, comments: Sequence[InlineComment]) -> PostResult:
        anchors = _anchors(self.list_changes(mr))
        ready: list[tuple[InlineComment, dict[str, Any]]] = []
        rejected: list[RejectedComment] = []
        for comment in comments:
            payload = _review_comment(comment, anchors)
            if payload is None:
                rejected.append(
                    RejectedComment(comment, "the line is not in the pull request's diff")
                )
            else:
                ready.append((comment, payload))
        if not ready:
            return PostResult((), tuple(rejected))
        try:
            self._post_review(mr, [p for _, p in ready])
            return PostResult(tuple(c for c, _ in ready), tuple(rejected))
        except ForgeRefused as exc:
            if exc.status not in (400, 422) or len(ready) == 1:
                if exc.status in (400, 422):
                    return PostResult((), (*rejected, RejectedComment(ready[0][0], str(exc))))
                raise
            log.info("Gitea refused the review as a whole (%s); posting comments one by one", exc)
        posted: list[InlineComment] = []
        for comment, payload in ready:
            try:
                self._post_review(mr, [payload])
            except ForgeRefused as exc:
                if exc.status not in (400, 422):
                    raise
                rejected.append(RejectedComment(comment, str(exc)))
                continue
            posted.append(comment)
        return PostResult(tuple(posted), tuple(rejected))

    def _post_review(self, mr: MergeRequest, comments: list[dict[str, Any]]) -> None:
        self._request(
            "POST",
            f"{self._repo_path}/pulls/{mr.ref.number}/reviews",
            what=f"post a review on pull request #{mr.ref.number}",
            json={"event": "COMMENT", "commit_id": mr.head_sha, "body": "", "comments": comments},
        )

    def upsert_summary(self, mr: MergeRequest, body: str) -> None:
        if SUMMARY_MARKER not in body:
            body = f"{body}\n\n{SUMMARY_MARKER}"
        what = f"post the summary on pull request #{mr.ref.number}"
        bot = self._bot()
        existing = next(
            (
                c
                for c in self._issue_comments(mr)
                if (c.get("user") or {}).get("login") == bot and is_summary(c.get("body") or "")
            ),
            None,
        )
        if existing is not None:
            try:
                self._request(
                    "PATCH",
                    f"{self._repo_path}/issues/comments/{existing['id']}",
                    what=what,
                    json={"body": body},
                )
                return
            except ForgeRefused as exc:
                if exc.status != 404:
                    raise
        self._request(
            "POST",
            f"{self._repo_path}/issues/{mr.ref.number}/comments",
            what=what,
            json={"body": body},
        )

    def set_status(
        self,
        mr: MergeRequest,
        state: StatusState,
        description: str,
        target_url: str | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "state": _STATE[state],
            "context": STATUS_NAME,
            "description": description[:255],
        }
        if target_url:
            data["target_url"] = target_url
        self._request(
            "POST",
            f"{self._repo_path}/statuses/{mr.head_sha}",
            what=f"set the commit status of {mr.head_sha[:12]}",
            json=data,
        )


def _message(response: httpx.Response) -> str:
    return reason_from_body(response.content)


Anchors = dict[str, tuple[set[int], set[int]]]  # path -> (new lines, old lines) commentable


def _anchors(files: list[FileDiff]) -> Anchors:
    anchors: Anchors = {}
    for f in files:
        if f.binary:
            continue
        new_lines = {ln.new_line for ln in f.lines() if ln.new_line is not None}
        old_lines = {
            ln.old_line
            for ln in f.lines()
            if ln.kind is LineKind.REMOVED and ln.old_line is not None
        }
        anchors[f.path] = (new_lines, old_lines)
    return anchors


def _review_comment(comment: InlineComment, anchors: Anchors) -> dict[str, Any] | None:
    """Gitea's comment payload, or None if the line is not in the diff."""
    lines = anchors.get(comment.path)
    if lines is None:
        return None
    new_lines, old_lines = lines
    payload: dict[str, Any] = {"path": comment.path, "body": comment.body}
    if comment.new_line is not None:
        if comment.new_line not in new_lines:
            return None
        payload["new_position"] = comment.new_line
    elif comment.old_line is not None:
        if comment.old_line not in old_lines:
            return None
        payload["old_position"] = comment.old_line
    else:
        return None
    return payload
