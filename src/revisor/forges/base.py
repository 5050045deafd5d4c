"""The `Forge` protocol: everything the review pipeline needs from a Git server.

Each adapter (`gitlab/api.py`, `gitea/api.py`) implements it and is the only place that knows
its forge's API. Shared here: retries with a bounded budget, and turning HTTP outcomes into
`revisor.errors` types with messages an admin can act on.

Retry policy, and why it is split in two: a worker that sleeps for minutes holds a queue slot,
so short hiccups (a 502 from a proxy, one slow answer) are retried here, a few times with
backoff, and anything longer is raised as `ForgeUnavailable` so the job queue reschedules the
whole job (`retry_after` carries the server's hint). A request that may already have been
acted on (a POST that timed out) is not repeated here: the review is idempotent thanks to the
fingerprint markers, but the job-level retry is where that is checked.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from revisor.backoff import backoff
from revisor.domain import (
    ExistingComment,
    FileDiff,
    ForgeKind,
    InlineComment,
    MergeRequest,
    PostResult,
    StatusState,
    SuggestionStyle,
    Thread,
)
from revisor.egress import parse_retry_after
from revisor.errors import ForgeError, ForgeUnavailable, brief

T = TypeVar("T")

STATUS_NAME = "revisor"  # the commit-status name/context every forge shows


@dataclass(frozen=True)
class ForgeTarget:
    """Where an adapter talks and as whom: a plain value, built by the caller from whatever it
    stores (forges never see a database row)."""

    kind: ForgeKind
    server: str
    project: str
    token: str = field(repr=False)  # never let a token reach a log through repr()
    ca_file: str | None = None


@dataclass(frozen=True)
class Access:
    """What `revisor doctor` learns of a target: whether the token can review there, and if
    not, what to do about it; plus the server's clock (its Date header), when it sent one."""

    ok: bool
    detail: str
    fix: str = ""
    server_time: float | None = None


class Forge(Protocol):
    @property
    def suggestion_style(self) -> SuggestionStyle:
        """How a suggested change is posted here: a block the author can apply (GitLab), or a
        fenced diff to read (Gitea and Forgejo have no suggestions)."""
        ...

    def fetch_merge_request(self, number: int) -> MergeRequest:
        """Title, author, branches and the SHAs inline positions must use (GitLab: newest
        version from `/versions`)."""
        ...

    def list_changes(self, mr: MergeRequest) -> list[FileDiff]:
        """Every changed file (all pages); binary and too-large files flagged, not dropped."""
        ...

    def read_file(self, path: str, ref: str) -> str | None:
        """The file's text at `ref`, or None if it does not exist there."""
        ...

    def list_bot_comments(self, mr: MergeRequest) -> list[ExistingComment]:
        """Comments our bot user posted earlier, with their fingerprints (for dedup)."""
        ...

    def post_comments(self, mr: MergeRequest, comments: Sequence[InlineComment]) -> PostResult:
        """Post inline comments. A position the server refuses goes to `rejected`; the others
        are still posted. Never raises for a refused position."""
        ...

    def upsert_summary(self, mr: MergeRequest, body: str) -> None:
        """Post the summary (a plain note/comment carrying SUMMARY_MARKER), or edit the one
        posted earlier, so re-reviews do not pile up notes."""
        ...

    def set_status(
        self,
        mr: MergeRequest,
        state: StatusState,
        description: str,
        target_url: str | None = None,
    ) -> None:
        """Commit status named `revisor` on the MR's head commit."""
        ...


@runtime_checkable
class Conversations(Protocol):
    """What the conversation side of the worker needs (replies, commands, feedback,
    incremental review); both adapters implement it beside `Forge`."""

    def bot_name(self) -> str:
        """The username Revisor posts as (a mention of it asks Revisor)."""
        ...

    def list_threads(self, mr: MergeRequest) -> list[Thread]:
        """Every thread on the merge request, with its notes oldest first."""
        ...

    def reply(self, mr: MergeRequest, thread: Thread, body: str) -> None:
        """Post `body` in `thread` (Gitea: a one-comment review on the same line, or a new
        comment when the thread is a plain comment or its line left the diff)."""
        ...

    def resolve(self, mr: MergeRequest, thread: Thread) -> bool:
        """Mark the thread resolved; False when this server cannot (Forgejo has no API)."""
        ...

    def thumbs_down(self, mr: MergeRequest, note_id: str) -> tuple[tuple[str, str], ...]:
        """(user id, username) of each user who gave the note a thumbs-down."""
        ...

    def can_read(self, user_id: str, username: str) -> bool:
        """Whether the forge says this user can read the project's code."""
        ...

    def changed_paths(self, mr: MergeRequest, since_sha: str) -> tuple[str, ...] | None:
        """Paths changed between `since_sha` and the merge request's head; None when
        `since_sha` is no longer in its history (a force-push or rebase dropped it)."""
        ...


class RequestNotSent(ForgeUnavailable):
    """The server certainly did not act on the request (429, connection refused), so even a
    non-idempotent request may be sent again."""


class ForgeRefused(ForgeError):
    """The server answered with a 4xx that retrying will not change; `status` says which."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # tries per request, including the first
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    max_wait: float = 10.0  # a Retry-After longer than this goes to the job queue instead


DEFAULT_RETRY = RetryPolicy()


def call_with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    idempotent: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`, retrying `ForgeUnavailable` within the policy's small budget.

    Non-idempotent calls are retried only for `RequestNotSent`. The last error is re-raised.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except ForgeUnavailable as exc:
            may_repeat = idempotent or isinstance(exc, RequestNotSent)
            wait = (
                exc.retry_after
                if exc.retry_after is not None
                else backoff(attempt, policy.backoff, math.inf)
            )
            if attempt >= policy.attempts or not may_repeat or wait > policy.max_wait:
                raise
            sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")


def scrub(text: str, secret: str) -> str:
    """Remove the token from anything that might end up in an error message or a log."""
    return text.replace(secret, "<redacted>") if secret else text


REASON_LIMIT = 200  # characters of a forge's own error message kept in an error


def reason_from_body(body: bytes | str | None) -> str:
    """The short reason a forge gave in an error answer, and nothing else of its body.

    Only the `message` (GitLab, Gitea) or `error` field of a JSON body is used; an HTML page,
    plain text or anything unparsable gives "" (the HTTP status says enough). The reason is
    cut to `REASON_LIMIT` characters with control characters removed (`errors.brief`).
    """
    if not body or len(body) > 64 * 1024:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(data, dict):
        return ""
    reason = data.get("message") or data.get("error") or ""
    if not isinstance(reason, str):  # GitLab validation errors: {"message": {"field": [...]}}
        reason = json.dumps(reason, ensure_ascii=True, separators=(",", ":"))
    return brief(reason, REASON_LIMIT)


def error_for_status(
    status: int,
    *,
    server: str,
    what: str,
    detail: str = "",
    retry_after: str | None = None,
) -> ForgeRefused | ForgeUnavailable:
    """The revisor error for a failed HTTP answer: the status and, at most, a short reason.

    `detail` must already be scrubbed of the token; it is cut to `REASON_LIMIT` characters with
    control characters removed here, so no forge body reaches `jobs.last_error` verbatim.
    """
    detail = brief(detail, REASON_LIMIT)
    suffix = f": {detail}" if detail else ""
    if status == 429:
        return RequestNotSent(
            f"{server} is rate limiting us while trying to {what} (429)",
            retry_after=parse_retry_after(retry_after),
        )
    if status >= 500:
        return ForgeUnavailable(
            f"{server} failed to {what} ({status}){suffix}",
            retry_after=parse_retry_after(retry_after),
        )
    if status == 401:
        return ForgeRefused(
            f"token rejected by {server} while trying to {what} (401): the repository's token "
            "is wrong, expired or revoked; set a new one",
            status,
        )
    if status == 403:
        return ForgeRefused(
            f"token lacks api scope or project access on {server} to {what} (403): give the "
            f"bot user access and a token with the write scope{suffix}",
            status,
        )
    if status == 404:
        return ForgeRefused(
            f"project or merge request not found on {server} while trying to {what} (404): "
            "check the project path and that the bot user can see it",
            status,
        )
    return ForgeRefused(f"{server} refused to {what} ({status}){suffix}", status)


@dataclass(frozen=True)
class MergeRequestLinks:
    """Where a person finds a merge request on its Git server, built from the registered (and
    allowed) server URL, never from a URL in a payload or an API answer."""

    merge_request: str
    changes: str
