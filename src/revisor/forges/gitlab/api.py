"""GitLab adapter (python-gitlab), the only module that talks to GitLab's REST API.

We use python-gitlab's client (auth, URL building, error parsing) through its low-level
`http_request`, with python-gitlab's own retries switched off: retry and rate-limit decisions
are ours (`RetryPolicy`), so a long `Retry-After` goes back to the job queue instead of
blocking a worker. Every request goes through the `requests` session that `Egress.session()`
builds, which asks the allowlist first, refuses any host other than the registered server (so
a redirect cannot carry the `PRIVATE-TOKEN` header anywhere else) and caps every answer's size.

Positions follow GitLab's rules: SHAs from the newest entry of `.../versions`, added line ->
`new_line` only, removed -> `old_line` only, context -> both, and `old_path`/`new_path` as the
diff lists them (for new and deleted files both are the same path). A position GitLab still
refuses (400 about `line_code`) becomes a `RejectedComment`; the caller folds it into the summary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import gitlab
import gitlab.exceptions
import requests

from revisor import metrics
from revisor.domain import (
    ExistingComment,
    FileDiff,
    FileStatus,
    ForgeKind,
    InlineComment,
    MergeRequest,
    MergeRequestRef,
    PostResult,
    RejectedComment,
    StatusState,
    SuggestionStyle,
)
from revisor.egress import Egress, host_port, parse_retry_after
from revisor.errors import ForgeError, ForgeUnavailable, brief
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
from revisor.forges.gitlab.threads import GitLabConversations
from revisor.text.diff import parse_hunks
from revisor.text.inert import inert_fields
from revisor.text.markers import SUMMARY_MARKER, find_fingerprint, is_summary

log = logging.getLogger(__name__)

PER_PAGE = 100  # GitLab's maximum
MAX_PAGES = 500  # 50,000 items: far beyond any merge request GitLab itself can render
_STATE = {
    StatusState.PENDING: "pending",
    StatusState.RUNNING: "running",
    StatusState.SUCCESS: "success",
    StatusState.FAILED: "failed",
    StatusState.ERROR: "failed",  # GitLab has no separate "error" state
    StatusState.CANCELLED: "canceled",
}


def _raise_on_rate_limit(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Response hook: python-gitlab's errors drop the headers, and Retry-After matters."""
    if response.status_code == 429:
        raise RequestNotSent(
            f"{host_port(response.url)[0]} is rate limiting us (429)",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )


def guarded_session(egress: Egress, server: str, ca_file: str | None) -> requests.Session:
    """Egress's guarded, size-capped session for `server`, plus metrics and 429 handling."""
    session = egress.session(server, purpose="gitlab api", ca_file=ca_file)
    session.hooks["response"].append(metrics.requests_hook("gitlab"))
    session.hooks["response"].append(_raise_on_rate_limit)
    return session


class GitLabForge(GitLabConversations):
    """`Forge` (and `Conversations`, in `threads.py`) for one GitLab project."""

    def __init__(
        self,
        target: ForgeTarget,
        egress: Egress,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._server = target.server
        self._project = target.project
        self._pid = quote(target.project, safe="")
        self._token = target.token
        self._retry = retry
        self._sleep = sleep
        egress.check(target.server, "gitlab api")
        session = guarded_session(egress, target.server, target.ca_file)
        self.server_date: str | None = None  # the Date header of the latest answer
        session.hooks["response"].append(self._note_date)
        self._gl = gitlab.Gitlab(
            target.server,
            private_token=target.token,
            session=session,
            ssl_verify=target.ca_file or True,
            timeout=timeout,
            retry_transient_errors=False,
            keep_base_url=True,
        )
        self._bot_id: int | None = None

    # --- HTTP plumbing ----------------------------------------------------------------------

    def _note_date(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.server_date = response.headers.get("Date") or self.server_date

    def probe(self, path: str) -> tuple[int, Any]:
        """One GET for `revisor doctor`: its status and JSON body. A refusal (4xx) comes back
        as its status with no body instead of raising; anything else raises as usual."""
        try:
            return 200, self._json("get", path, what=f"read {path}")
        except ForgeRefused as exc:
            return exc.status, None

    def _request(
        self,
        verb: str,
        path: str,
        *,
        what: str,
        query: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> requests.Response:
        data = inert_fields(data)  # every text we send is inert: no quick action, no link

        def once() -> requests.Response:
            try:
                return self._gl.http_request(
                    verb,
                    path,
                    query_data=query,
                    post_data=data,
                    obey_rate_limit=False,
                    retry_transient_errors=False,
                )
            except gitlab.exceptions.GitlabError as exc:
                if exc.response_code is None:
                    raise ForgeError(
                        f"{self._server}: {what} failed: {brief(scrub(str(exc), self._token))}"
                    ) from None
                raise error_for_status(
                    exc.response_code,
                    server=self._server,
                    what=what,
                    detail=scrub(reason_from_body(exc.response_body), self._token),
                ) from None
            except requests.exceptions.SSLError:
                raise ForgeError(
                    f"TLS verification of {self._server} failed while trying to {what}: if it "
                    "uses an internal CA, register the repository with its CA bundle (--ca-file)"
                ) from None
            except requests.exceptions.ConnectTimeout:
                raise RequestNotSent(f"{self._server}: connecting timed out ({what})") from None
            except requests.exceptions.Timeout:
                raise ForgeUnavailable(f"{self._server} did not answer in time ({what})") from None
            except requests.exceptions.ConnectionError as exc:
                raise ForgeUnavailable(
                    f"cannot reach {self._server} ({what}): {type(exc).__name__}"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise ForgeUnavailable(
                    f"{self._server}: {what} failed: {type(exc).__name__}"
                ) from None

        return call_with_retries(
            once, self._retry, idempotent=verb in {"get", "put"}, sleep=self._sleep
        )

    def _json(self, verb: str, path: str, *, what: str, **kwargs: Any) -> Any:
        response = self._request(verb, path, what=what, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ForgeError(
                f"{self._server} answered {what} with something that is not JSON"
            ) from None

    def _get_all(self, path: str, *, what: str, query: dict[str, Any] | None = None) -> list[Any]:
        """Every page of a list endpoint, by page number (never by URLs from the response)."""
        items: list[Any] = []
        page = 1
        for _ in range(MAX_PAGES):
            response = self._request(
                "get", path, what=what, query={**(query or {}), "page": page, "per_page": PER_PAGE}
            )
            batch = response.json()
            if not isinstance(batch, list):
                raise ForgeError(
                    f"{self._server} answered {what} with something that is not a list"
                )
            items.extend(batch)
            next_page = response.headers.get("X-Next-Page")
            if next_page is None:  # header stripped by a proxy: fall back to "was the page full?"
                if len(batch) < PER_PAGE:
                    return items
                page += 1
            elif next_page.isdigit() and int(next_page) > page:
                page = int(next_page)
            else:
                return items
        raise ForgeError(f"{self._server}: {what} has more than {MAX_PAGES} pages; giving up")

    @property
    def _mr_path(self) -> str:
        return f"/projects/{self._pid}/merge_requests"

    def _bot_user_id(self) -> int:
        if self._bot_id is None:
            user = self._json("get", "/user", what="identify the bot user")
            self._bot_id = int(user["id"])
        return self._bot_id

    # --- Forge ------------------------------------------------------------------------------

    @property
    def suggestion_style(self) -> SuggestionStyle:
        return SuggestionStyle.BLOCK  # GitLab applies `suggestion:-N+M` blocks

    def fetch_merge_request(self, number: int) -> MergeRequest:
        what = f"read merge request !{number} of {self._project}"
        data = self._json("get", f"{self._mr_path}/{number}", what=what)
        versions = self._json("get", f"{self._mr_path}/{number}/versions", what=what)
        if versions:
            newest = versions[0]  # GitLab lists versions newest first
            base, start, head = (
                newest["base_commit_sha"],
                newest["start_commit_sha"],
                newest["head_commit_sha"],
            )
        else:  # no diff version yet (MR just created); diff_refs is the same triple
            refs = data.get("diff_refs") or {}
            base, start, head = refs.get("base_sha"), refs.get("start_sha"), refs.get("head_sha")
        labels = data.get("labels") or []
        return MergeRequest(
            ref=MergeRequestRef(ForgeKind.GITLAB, self._project, number),
            title=data.get("title") or "",
            description=data.get("description") or "",
            author=(data.get("author") or {}).get("username", ""),
            draft=bool(data.get("draft") or data.get("work_in_progress")),
            labels=tuple(str(x["name"] if isinstance(x, dict) else x) for x in labels),
            source_branch=data.get("source_branch") or "",
            target_branch=data.get("target_branch") or "",
            head_sha=head or data.get("sha") or "",
            base_sha=base or "",
            start_sha=start or base or "",
            web_url=data.get("web_url") or "",
        )

    def list_changes(self, mr: MergeRequest) -> list[FileDiff]:
        entries = self._get_all(
            f"{self._mr_path}/{mr.ref.number}/diffs",
            what=f"list the changes of merge request !{mr.ref.number}",
        )
        return [_file_diff(entry) for entry in entries]

    def read_file(self, path: str, ref: str) -> str | None:
        try:
            response = self._request(
                "get",
                f"/projects/{self._pid}/repository/files/{quote(path, safe='')}/raw",
                what=f"read {path} at {ref[:12]}",
                query={"ref": ref},
            )
        except ForgeRefused as exc:
            if exc.status == 404:
                return None
            raise
        return response.content.decode("utf-8", errors="replace")

    def list_bot_comments(self, mr: MergeRequest) -> list[ExistingComment]:
        bot = self._bot_user_id()
        notes = self._get_all(
            f"{self._mr_path}/{mr.ref.number}/notes",
            what=f"list the notes of merge request !{mr.ref.number}",
            query={"sort": "asc", "order_by": "created_at"},
        )
        return [
            ExistingComment(
                comment_id=str(note["id"]),
                body=note.get("body") or "",
                fingerprint=find_fingerprint(note.get("body") or ""),
                # Only a plain note counts as the summary (a DiffNote is a discussion thread).
                is_summary=note.get("type") is None and is_summary(note.get("body") or ""),
            )
            for note in notes
            if (note.get("author") or {}).get("id") == bot and not note.get("system")
        ]

    def post_comments(self, mr: MergeRequest, comments: Sequence[InlineComment]) -> PostResult:
        posted: list[InlineComment] = []
        rejected: list[RejectedComment] = []
        path = f"{self._mr_path}/{mr.ref.number}/discussions"
        for comment in comments:
            if comment.old_line is None and comment.new_line is None:
                rejected.append(RejectedComment(comment, "no line to anchor the comment to"))
                continue
            try:
                self._request(
                    "post",
                    path,
                    what=f"comment on {comment.path} in merge request !{mr.ref.number}",
                    data={"body": comment.body, "position": position(mr, comment)},
                )
            except ForgeRefused as exc:
                if not _is_position_error(exc):
                    raise
                log.info("GitLab refused a position in %s: %s", comment.path, exc)
                rejected.append(RejectedComment(comment, f"GitLab refused the position: {exc}"))
                continue
            posted.append(comment)
        return PostResult(tuple(posted), tuple(rejected))

    def upsert_summary(self, mr: MergeRequest, body: str) -> None:
        if SUMMARY_MARKER not in body:
            body = f"{body}\n\n{SUMMARY_MARKER}"
        notes = f"{self._mr_path}/{mr.ref.number}/notes"
        what = f"post the summary on merge request !{mr.ref.number}"
        existing = next((c for c in self.list_bot_comments(mr) if c.is_summary), None)
        if existing is not None:
            try:
                self._request(
                    "put", f"{notes}/{existing.comment_id}", what=what, data={"body": body}
                )
                return
            except ForgeRefused as exc:
                if exc.status != 404:
                    raise
                # Someone deleted it between our listing and our edit: post a new one.
        self._request("post", notes, what=what, data={"body": body})

    def set_status(
        self,
        mr: MergeRequest,
        state: StatusState,
        description: str,
        target_url: str | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "state": _STATE[state],
            "name": STATUS_NAME,
            "description": description[:255],
        }
        if mr.source_branch:
            data["ref"] = mr.source_branch
        if target_url:
            data["target_url"] = target_url
        try:
            self._request(
                "post",
                f"/projects/{self._pid}/statuses/{mr.head_sha}",
                what=f"set the commit status of {mr.head_sha[:12]}",
                data=data,
            )
        except ForgeRefused as exc:
            # GitLab refuses e.g. pending -> pending ("Cannot transition status via :enqueue
            # from :pending"): the status already says what we wanted; not worth failing a review.
            if "Cannot transition status" not in str(exc):
                raise
            log.info("GitLab kept the earlier commit status: %s", exc)


def position(mr: MergeRequest, comment: InlineComment) -> dict[str, Any]:
    """GitLab's text position for an inline comment (see the module docstring for the rules)."""
    pos: dict[str, Any] = {
        "position_type": "text",
        "base_sha": mr.base_sha,
        "start_sha": mr.start_sha,
        "head_sha": mr.head_sha,
        "old_path": comment.old_path or comment.path,
        "new_path": comment.path,
    }
    if comment.new_line is not None:
        pos["new_line"] = comment.new_line
    if comment.old_line is not None:
        pos["old_line"] = comment.old_line
    return pos


def _is_position_error(exc: ForgeRefused) -> bool:
    message = str(exc)
    return exc.status == 400 and ("line_code" in message or "position" in message.lower())


def _file_diff(entry: dict[str, Any]) -> FileDiff:
    """One entry of `.../diffs` as a FileDiff; files without a text diff are flagged, not lost."""
    old_path, new_path = entry["old_path"], entry["new_path"]
    if entry.get("deleted_file"):
        status = FileStatus.DELETED
    elif entry.get("new_file"):
        status = FileStatus.ADDED
    elif entry.get("renamed_file"):
        status = FileStatus.RENAMED
    else:
        status = FileStatus.MODIFIED
    text = entry.get("diff") or ""
    too_large = bool(entry.get("too_large") or entry.get("collapsed")) and not text
    if too_large:
        return FileDiff(old_path, new_path, status, (), truncated_by_forge=True)
    if text.startswith("Binary files "):
        return FileDiff(old_path, new_path, status, (), binary=True)
    if not text:
        # GitLab sends an empty diff for binary files, but also for pure renames, mode
        # changes and empty files; only the first has content we cannot review.
        mode_change = entry.get("a_mode") != entry.get("b_mode") and "0" not in (
            entry.get("a_mode"),
            entry.get("b_mode"),
        )
        pure_rename = status is FileStatus.RENAMED
        return FileDiff(old_path, new_path, status, (), binary=not (mode_change or pure_rename))
    try:
        hunks = parse_hunks(text)
    except ValueError as exc:
        log.warning("unparseable GitLab diff for %s: %s", new_path, exc)
        return FileDiff(old_path, new_path, status, (), unreadable=str(exc))
    return FileDiff(old_path, new_path, status, hunks)
