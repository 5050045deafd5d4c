"""In-memory fakes of the pipeline's two seams, `Forge` and `ChatModel`: no HTTP, no server.

They let `review_job` be tested on its own. They are strict where the pipeline relies on the
real thing being strict: a comment whose position is not on a diff line is refused (GitLab
answers `400 line_code can't be blank`, Gitea 422), and listing the bot's comments gives back
the fingerprints posted earlier. The HTTP fakes in `tests/fakes/` stay for the adapters' own
tests and the end-to-end ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from revisor.domain import (
    ChatMessage,
    ChatModel,
    Completion,
    ExistingComment,
    FileDiff,
    FileStatus,
    ForgeKind,
    InlineComment,
    LineKind,
    MergeRequest,
    MergeRequestRef,
    PostResult,
    RejectedComment,
    RouteHints,
    StatusState,
    SuggestionStyle,
    Usage,
    UsageRecord,
)
from revisor.errors import ForgeError
from revisor.review.prompt import read_prompt
from revisor.text.diff import parse_hunks
from revisor.text.markers import find_fingerprint, is_summary

HEAD = "a" * 40
SCRIPTED_USAGE = Usage(42, 7, 1, 3)  # what each scripted answer reports
BASE = "b" * 40


@dataclass
class InMemoryForge:
    """One merge request of one project, kept in memory; implements `forges.base.Forge`."""

    patches: dict[str, str]  # path -> unified-diff hunks of that file
    project: str = "group/app"
    number: int = 7
    head_sha: str = HEAD
    draft: bool = False
    files: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, ref) -> text
    fail: dict[str, Exception] = field(default_factory=dict)  # method name -> error to raise
    fail_read: dict[str, Exception] = field(default_factory=dict)  # path -> read_file's error
    comments: list[InlineComment] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)  # every version of the summary
    statuses: list[tuple[StatusState, str, str | None]] = field(default_factory=list)
    suggestion_style: SuggestionStyle = SuggestionStyle.BLOCK  # as GitLab; DIFF as Gitea

    def _check(self, method: str) -> None:
        if method in self.fail:
            raise self.fail[method]

    def fetch_merge_request(self, number: int) -> MergeRequest:
        self._check("fetch_merge_request")
        if number != self.number:
            raise ForgeError(f"merge request {self.project}!{number} not found")
        return MergeRequest(
            ref=MergeRequestRef(ForgeKind.GITLAB, self.project, number),
            title="Run commands",
            description="",
            author="dev",
            draft=self.draft,
            labels=(),
            source_branch="feature",
            target_branch="main",
            head_sha=self.head_sha,
            base_sha=BASE,
            start_sha=BASE,
        )

    def list_changes(self, mr: MergeRequest) -> list[FileDiff]:
        self._check("list_changes")
        return [
            FileDiff(path, path, FileStatus.MODIFIED, parse_hunks(patch))
            for path, patch in self.patches.items()
        ]

    def read_file(self, path: str, ref: str) -> str | None:
        self._check("read_file")
        if path in self.fail_read:
            raise self.fail_read[path]
        return self.files.get((path, ref))

    def list_bot_comments(self, mr: MergeRequest) -> list[ExistingComment]:
        self._check("list_bot_comments")
        bodies = [c.body for c in self.comments] + self.summaries[-1:]
        return [
            ExistingComment(str(i), body, find_fingerprint(body), is_summary(body))
            for i, body in enumerate(bodies)
        ]

    def post_comments(self, mr: MergeRequest, comments: Sequence[InlineComment]) -> PostResult:
        self._check("post_comments")
        posted, rejected = [], []
        for comment in comments:
            if self._on_diff(comment):
                self.comments.append(comment)
                posted.append(comment)
            else:
                rejected.append(RejectedComment(comment, "line_code can't be blank"))
        return PostResult(tuple(posted), tuple(rejected))

    def _on_diff(self, comment: InlineComment) -> bool:
        patch = self.patches.get(comment.path)
        if patch is None:
            return False
        for hunk in parse_hunks(patch):
            for line in hunk.lines:
                if comment.new_line is not None:  # added or context line: new_line
                    if line.kind is not LineKind.REMOVED and line.new_line == comment.new_line:
                        return True
                elif line.kind is LineKind.REMOVED and line.old_line == comment.old_line:
                    return True
        return False

    def upsert_summary(self, mr: MergeRequest, body: str) -> None:
        self._check("upsert_summary")
        self.summaries.append(body)

    def set_status(
        self, mr: MergeRequest, state: StatusState, description: str, target_url: str | None = None
    ) -> None:
        self._check("set_status")
        self.statuses.append((state, description, target_url))


class ScriptedModel:
    """A `ChatModel` that answers from a script (the last answer repeats; an exception in the
    script is raised), records what it was asked, and reports usage like the HTTP client does:
    once per request, to the sink of the `metered()` view that sent it."""

    def __init__(
        self,
        *answers: str | Exception,
        context_tokens: int = 8192,
        concurrency: int = 1,
        usage: Usage = SCRIPTED_USAGE,
    ) -> None:
        self.answers = list(answers) or ['{"findings": []}']
        # The answer to the verification calls (review.verify), which are recorded apart
        self.verdict = '{"verdict": "real", "reason": "scripted"}'
        self.verifications: list[list[ChatMessage]] = []
        self.context_tokens = context_tokens
        self._concurrency = concurrency
        self.usage = usage
        self.requests: list[list[ChatMessage]] = []
        self.hints: list[RouteHints | None] = []
        self.metered_views = 0
        self._lock = threading.Lock()

    @property
    def concurrency(self) -> int:
        return self._concurrency

    def context_for(self, hints: RouteHints | None) -> int:
        return self.context_tokens

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        json_mode: bool = True,
        hints: RouteHints | None = None,
        on_usage: Callable[[UsageRecord], None] | None = None,
    ) -> Completion:
        with self._lock:
            if messages[0].content == read_prompt("verify_system.txt").strip():
                self.verifications.append(list(messages))
                answer: str | Exception = self.verdict
            else:
                self.requests.append(list(messages))
                self.hints.append(hints)
                answer = self.answers[0] if len(self.answers) == 1 else self.answers.pop(0)
        if isinstance(answer, Exception):
            if on_usage is not None:
                on_usage(UsageRecord("scripted", "script", 0, 0, 0, ok=False, error="down"))
            raise answer
        u = self.usage
        if on_usage is not None:
            on_usage(
                UsageRecord("scripted", "script", u.prompt_tokens, u.completion_tokens,
                            u.latency_ms, ok=True)
            )  # fmt: skip
        return Completion(answer, "scripted", "script", u, "stop")

    def metered(self, on_usage: Callable[[UsageRecord], None]) -> ChatModel:
        self.metered_views += 1
        return _Metered(self, on_usage)


class _Metered:
    def __init__(self, model: ScriptedModel, on_usage: Callable[[UsageRecord], None]) -> None:
        self._model, self._on_usage = model, on_usage

    @property
    def concurrency(self) -> int:
        return self._model.concurrency

    def context_for(self, hints: RouteHints | None) -> int:
        return self._model.context_for(hints)

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        json_mode: bool = True,
        hints: RouteHints | None = None,
    ) -> Completion:
        return self._model.complete(
            messages, max_tokens=max_tokens, json_mode=json_mode, hints=hints,
            on_usage=self._on_usage,
        )  # fmt: skip
