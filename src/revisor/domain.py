"""Frozen dataclasses that flow through the review pipeline.

Everything here is plain data: no I/O, no forge- or model-specific types. Forge adapters
translate their APIs into these types, the review engine (`revisor.review`) works only on them,
and the worker hands them from one stage to the next.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class ForgeKind(enum.StrEnum):
    GITLAB = "gitlab"
    GITEA = "gitea"


class SuggestionStyle(enum.StrEnum):
    """How a forge shows a suggested change (`Forge.suggestion_style`): as a block the author
    applies with a click (GitLab's `suggestion:-N+M`), or as a fenced diff to read (Gitea and
    Forgejo have no suggestions)."""

    BLOCK = "suggestion"
    DIFF = "diff"


class LineKind(enum.StrEnum):
    ADDED = "+"
    REMOVED = "-"
    CONTEXT = " "


class FileStatus(enum.StrEnum):
    MODIFIED = "modified"
    ADDED = "added"
    DELETED = "deleted"
    RENAMED = "renamed"


class Severity(enum.IntEnum):
    """Ordered so that `finding.severity >= policy.min_severity` works."""

    INFO = 0
    MINOR = 1
    MAJOR = 2
    CRITICAL = 3

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            allowed = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {value!r} (allowed: {allowed})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class StatusState(enum.StrEnum):
    """Commit status as Revisor thinks of it; each forge maps it to its own vocabulary."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    ERROR = "error"
    CANCELLED = "cancelled"  # the job was cancelled or superseded: no verdict


@dataclass(frozen=True)
class MergeRequestRef:
    """Which merge request: enough to find it again on the registered server."""

    forge: ForgeKind
    project: str  # GitLab "group/project", Gitea "owner/repo"
    number: int  # GitLab iid, Gitea pull index


@dataclass(frozen=True)
class MergeRequest:
    ref: MergeRequestRef
    title: str
    description: str
    author: str
    draft: bool
    labels: tuple[str, ...]
    source_branch: str
    target_branch: str
    head_sha: str
    base_sha: str
    start_sha: str
    web_url: str = ""


@dataclass(frozen=True)
class DiffLine:
    kind: LineKind
    old_line: int | None  # None for added lines
    new_line: int | None  # None for removed lines
    text: str


@dataclass(frozen=True)
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str  # text after the second "@@", often the enclosing function
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True)
class FileDiff:
    old_path: str
    new_path: str
    status: FileStatus
    hunks: tuple[Hunk, ...]
    binary: bool = False
    # The forge said the diff was too large to send (GitLab "too_large"/"collapsed").
    truncated_by_forge: bool = False
    # Set by an adapter when it received the file but could not read its diff (say why).
    unreadable: str = ""

    @property
    def path(self) -> str:
        return self.old_path if self.status is FileStatus.DELETED else self.new_path

    def lines(self) -> tuple[DiffLine, ...]:
        return tuple(line for hunk in self.hunks for line in hunk.lines)


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class Chunk:
    """One model request's worth of diff: whole hunks of one or more files."""

    index: int
    files: tuple[FileDiff, ...]
    estimated_tokens: int


@dataclass(frozen=True)
class Finding:
    """A model finding anchored to a line that is in the diff."""

    path: str
    old_path: str
    old_line: int | None
    new_line: int | None
    severity: Severity
    title: str
    body: str
    suggestion: str | None = None  # replacement code for the lines below, or None
    # The lines of the new file the suggestion replaces (the commented line among them); None:
    # the commented line only. Set from the model's answer, checked by `review.suggest`.
    suggestion_first: int | None = None
    suggestion_last: int | None = None
    suggestion_replaces: tuple[str, ...] = ()  # those lines' text, once checked
    suggestion_left_out: str = ""  # why the model's suggestion was not kept, if it was not
    fingerprint: str = ""
    source: str = "model"  # "model", "redaction", or an analyzer's name ("ruff", "ast-grep")
    rule: str = (
        ""  # the analyzer's rule id when an analyzer found it ("S608", "go-defer-before-err")
    )


@dataclass(frozen=True)
class AnalyzerHit:
    """A deterministic analyzer's hit on lines of a file at the head revision. `message` is the
    rule's own text (written by us or the analyzer), never code from the file."""

    source: str  # "ruff" | "ast-grep"
    rule: str  # "S608", "js-exec-template", ...
    path: str
    line: int  # 1-based, head revision
    end_line: int
    severity: Severity
    message: str


@dataclass(frozen=True)
class InlineComment:
    """A rendered comment, ready to post at a diff position."""

    path: str
    old_path: str
    old_line: int | None
    new_line: int | None
    body: str
    fingerprint: str


@dataclass(frozen=True)
class ExistingComment:
    """A comment the bot posted earlier, as listed back from the forge."""

    comment_id: str
    body: str
    fingerprint: str | None
    is_summary: bool


@dataclass(frozen=True)
class RejectedComment:
    comment: InlineComment
    reason: str


@dataclass(frozen=True)
class PostResult:
    posted: tuple[InlineComment, ...] = ()
    rejected: tuple[RejectedComment, ...] = ()


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    latency_ms: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.requests + other.requests,
            self.latency_ms + other.latency_ms,
        )


@dataclass(frozen=True)
class UsageRecord:
    """One request to a model endpoint, as stored in the `usage` table and counted in metrics.
    No prompt, no code."""

    model: str
    endpoint: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    ok: bool
    error: str = ""  # short reason when not ok: "HTTP 503", "ConnectError", ...


@dataclass(frozen=True)
class ReviewResult:
    findings: tuple[Finding, ...]
    reviewed_files: tuple[str, ...]
    skipped: tuple[SkippedFile, ...]
    model: str
    prompt_version: str
    usage: Usage = field(default_factory=Usage)
    duration_ms: int = 0
    chunks_total: int = 0
    chunks_failed: int = 0
    dropped_unanchored: int = 0
    dropped_below_severity: int = 0
    dropped_over_cap: int = 0
    redactions: int = 0
    cut_lines: int = 0  # diff lines too long for the model, sent cut (review.plan.MAX_LINE_CHARS)
    # Suggestions of the findings above that were left out, by reason (review.suggest)
    suggestions_left_out: tuple[tuple[str, int], ...] = ()
    # What each reviewed file's change does, one sentence per file (path, sentence)
    file_notes: tuple[tuple[str, str], ...] = ()
    # Candidates the verification pass did not confirm (not posted; kept for the job record)
    unconfirmed: tuple[Finding, ...] = ()
    # Analyzer problems that did not stop the review ("ast-grep timed out"), shown in the summary
    analyzer_errors: tuple[str, ...] = ()
    moved: int = 0  # findings anchored on another line than the number the model gave
    unverified: int = 0  # findings posted although the verification answer was unusable

    @property
    def partial(self) -> bool:
        return self.chunks_failed > 0


# --- the model seam -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class RouteHints:
    """What the model router may decide on. Never contains code."""

    repo: str = ""
    sensitivity: str = "normal"
    diff_lines: int = 0


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    endpoint: str
    usage: Usage
    finish_reason: str = "stop"


class ChatModel(Protocol):
    """An OpenAI-compatible chat model, as the review engine sees it (implemented in llm/)."""

    @property
    def concurrency(self) -> int: ...

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        json_mode: bool = True,
        hints: RouteHints | None = None,
    ) -> Completion: ...

    def context_for(self, hints: RouteHints | None) -> int:
        """The context window (tokens) a prompt for these hints must fit: that of the endpoint
        it routes to (and of its fallback)."""
        ...


UsageSink = Callable[[UsageRecord], None]  # called once per request sent to a model endpoint


class MeteredModel(Protocol):
    """Where the worker gets its model for one job: a `ChatModel` that reports the usage of
    every request it sends (failed attempts included) to the job's sink."""

    def metered(self, on_usage: UsageSink) -> ChatModel: ...


# --- conversations: threads on a merge request (forges.base.Conversations) --------------------


@dataclass(frozen=True)
class ThreadNote:
    """One note of a thread, as the forge lists it."""

    note_id: str
    author: str
    body: str
    by_bot: bool  # written by our own bot user


@dataclass(frozen=True)
class Thread:
    """A conversation on a merge request: a line thread (GitLab discussion, Gitea review
    comments on one line) or a plain comment. `thread_id` is what `Conversations.reply` and
    `.resolve` take."""

    thread_id: str
    notes: tuple[ThreadNote, ...]
    path: str = ""
    new_line: int | None = None
    old_line: int | None = None
    resolvable: bool = False
    resolved: bool = False

    @property
    def started_by_bot(self) -> bool:
        return bool(self.notes) and self.notes[0].by_bot

    def note(self, note_id: str) -> ThreadNote | None:
        return next((n for n in self.notes if n.note_id == note_id), None)
