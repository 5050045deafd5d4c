"""One review, from job to posted comments: the I/O around the pure engine.

    fetch MR -> policy (.revisor.toml on the target branch) -> list changes
    -> review.engine (plan, redact, prompt, model, parse, anchor) -> dedup against our earlier
    comments -> post inline comments -> summary (refused positions folded in) -> commit status

Posting is idempotent: every comment carries a fingerprint marker, and findings whose
fingerprint is already on the merge request are not posted again. So a job that runs twice
(its worker died after posting, the reaper re-queued it) posts nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from revisor import metrics
from revisor.analyzers import run_analyzers
from revisor.audit import AuditLog, Event, Outcome
from revisor.config import ReviewSettings, Settings
from revisor.domain import (
    AnalyzerHit,
    ChatMessage,
    ChatModel,
    Completion,
    InlineComment,
    MergeRequest,
    MeteredModel,
    PostResult,
    ReviewResult,
    RouteHints,
    StatusState,
    UsageRecord,
    UsageSink,
)
from revisor.errors import ModelError, ModelUnavailable, Retryable, RevisorError
from revisor.forges.base import Forge
from revisor.review import render
from revisor.review.engine import review_files
from revisor.review.guidance import RepoDocs
from revisor.review.policy import build_policy
from revisor.review.prompt import prompt_version
from revisor.review.redact import REDACTION_MARK
from revisor.review.summary import render_summary
from revisor.store import usage
from revisor.store.db import PerThread
from revisor.store.jobs import Job
from revisor.text.inert import inert
from revisor.worker.memory import ReviewMemory
from revisor.worker.repo_docs import read_repo_docs
from revisor.worker.runner import JobContext, JobOutcome
from revisor.worker.transcript import TranscriptSink

log = logging.getLogger("revisor.worker.pipeline")

POLICY_FILE = ".revisor.toml"


@dataclass(frozen=True)
class JobSettings:
    """The settings a review job reads."""

    review: ReviewSettings
    max_output_tokens: int
    public_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> JobSettings:
        return cls(settings.review, settings.model.max_output_tokens, settings.public_base_url)


def job_url(public_url: str, job_id: int) -> str:
    return f"{public_url.rstrip('/')}/jobs/{job_id}"


def review_job(
    ctx: JobContext,
    *,
    forge: Forge,
    model: MeteredModel,
    store: PerThread,
    audit: AuditLog,
    settings: JobSettings,
    transcript: TranscriptSink | None = None,
) -> JobOutcome:
    """Review the job's merge request on `forge` with `model`; usage rows go to `store`, every
    step that matters to `audit`, what the model saw and answered and what was posted to
    `transcript` (when the repository keeps transcripts). The caller picks the forge and the
    model (`worker/resources.py`)."""
    job = ctx.job
    started = time.monotonic()

    ctx.stage("fetch")
    mr = forge.fetch_merge_request(job.mr_number)
    ctx.describe(mr)
    if job.head_sha and mr.head_sha != job.head_sha:
        # A newer push exists; its own webhook brings (or brought) the job for it.
        return JobOutcome("superseded", {"reason": f"head moved to {mr.head_sha[:12]}"})
    if mr.draft:
        return JobOutcome("skipped", {"reason": "draft merge request"})
    policy = build_policy(settings.review, forge.read_file(POLICY_FILE, mr.target_branch))
    if not policy.enabled:
        return JobOutcome("skipped", {"reason": f"disabled by {POLICY_FILE}"})

    status = StatusReporter(forge, audit, job.id, mr, job_url(settings.public_url, job.id))
    status.set(StatusState.RUNNING, "Revisor is reviewing")
    try:
        all_files = forge.list_changes(mr)
        memory = ReviewMemory.open(forge, store, audit, job, mr)  # worker/memory.py
        files = memory.files(all_files)  # incremental: only what changed since the last review
        docs = read_repo_docs(forge, mr.target_branch) if policy.guidance_files else RepoDocs()
        ctx.stage("review")
        hints = RouteHints(repo=mr.ref.project, diff_lines=sum(len(f.lines()) for f in files))
        job_model = AuditedModel(
            model.metered(_usage_sink(store, job)), audit, job.id, transcript=transcript
        )
        result = review_files(
            files,
            mr=mr,
            policy=policy,
            model=job_model,
            context_tokens=job_model.context_for(hints),
            max_output_tokens=settings.max_output_tokens,
            hints=hints,
            on_progress=lambda done, total, _u: ctx.stage(f"review {done}/{total}"),
            read_head=_head_reader(forge, mr),
            analyze=_analyze if policy.analyzers else None,
            docs=docs,
        )
    except ModelUnavailable:
        status.set_on_failure(StatusState.PENDING, "waiting for model")
        raise
    except Retryable:
        raise
    except RevisorError as exc:
        status.set_on_failure(StatusState.ERROR, f"review failed: {exc}"[:140])
        raise

    ctx.stage("post")
    memory.collect_feedback()  # thumbs-downs since the last review become suppressions
    ours = forge.list_bot_comments(mr)
    known = {c.fingerprint for c in ours if c.fingerprint}
    new, already_posted = render.dedup(result.findings, known)
    new, suppressed = memory.unsuppressed(new, files)
    comments = [render.render_comment(f, forge.suggestion_style) for f in new]
    posted = forge.post_comments(mr, comments)
    placed = {c.fingerprint for c in posted.posted}
    memory.remember([f for f in new if f.fingerprint in placed], files, result)
    resolved = memory.resolve_fixed(forge, result)
    ref = mr.ref
    for comment in posted.posted:
        audit.record(
            Event.COMMENT_POSTED,
            actor="system:worker",
            target=f"{ref.forge.value}:{ref.project}!{ref.number}",
            job_id=job.id,
            path=comment.path,
            line=comment.new_line or comment.old_line,
            fingerprint=comment.fingerprint,
        )

    n_posted, n_rejected = len(posted.posted), len(posted.rejected)
    metrics.record_posting(
        ref.forge.value, posted=n_posted, rejected=n_rejected, redactions=result.redactions
    )
    log.info("posted %d comment(s), %d position(s) refused", n_posted, n_rejected)

    ctx.stage("summary")
    duration_ms = int((time.monotonic() - started) * 1000)
    summary = render_summary(
        result,
        files=files,
        policy=policy,
        not_inline=posted.rejected,
        already_posted=already_posted,
        coverage=memory.coverage(suppressed=suppressed, resolved=resolved),
    )
    forge.upsert_summary(mr, summary)
    action = "updated" if any(c.is_summary for c in ours) else "created"
    audit.record(
        Event.SUMMARY_POSTED,
        actor="system:worker",
        target=f"{ref.forge.value}:{ref.project}!{ref.number}",
        job_id=job.id,
        action=action,
        findings=len(result.findings),
        posted=n_posted,
    )
    if transcript is not None:
        transcript.outcome(_posted_record(result, posted, summary, action, already_posted))
    status.set(*_final_status(result))
    record = _result_record(result, posted_count=n_posted, rejected=n_rejected)
    return JobOutcome("done", {**record, "duration_ms": duration_ms})


def _analyze(heads: Mapping[str, str]) -> tuple[Sequence[AnalyzerHit], Sequence[str]]:
    """ruff and the ast-grep rule pack over the head texts of the reviewed files."""
    report = run_analyzers(heads)
    return report.hits, report.errors


def _head_reader(forge: Forge, mr: MergeRequest) -> Callable[[str], str | None]:
    """A file's text at the MR's head, for checking that a suggestion compiles in it; None when
    the forge cannot give it now (the check then uses the diff alone)."""

    def read(path: str) -> str | None:
        try:
            return forge.read_file(path, mr.head_sha)
        except RevisorError as exc:
            log.info("could not read %s at the head for a suggestion check: %s", path, exc)
            return None

    return read


def _usage_sink(store: PerThread, job: Job) -> UsageSink:
    """Each request's usage: a row for this job, and the metrics."""

    def on_usage(rec: UsageRecord) -> None:
        usage.record(store.get(), job.id, job.repo_id, rec)  # engine threads: own connection
        metrics.record_model_usage(rec)

    return on_usage


def _final_status(result: ReviewResult) -> tuple[StatusState, str]:
    if result.partial:
        return (
            StatusState.FAILED,
            f"review incomplete: {result.chunks_failed} of {result.chunks_total} parts failed",
        )
    n = len(result.findings)
    return StatusState.SUCCESS, f"{n} finding{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class StatusReporter:
    """Sets the merge request's commit status (with a link to the job page) and audits it."""

    forge: Forge
    audit: AuditLog
    job_id: int
    mr: MergeRequest
    url: str

    def set(self, state: StatusState, text: str) -> None:
        self.forge.set_status(self.mr, state, text, self.url)
        ref = self.mr.ref
        self.audit.record(
            Event.STATUS_SET,
            actor="system:worker",
            target=f"{ref.forge.value}:{ref.project}@{self.mr.head_sha[:12]}",
            job_id=self.job_id,
            state=state.value,
        )

    def set_on_failure(self, state: StatusState, text: str) -> None:
        """On the way out of a failure: if this fails too, the first error is the one the job
        records (a revoked token fails both)."""
        try:
            self.set(state, text)
        except RevisorError as exc:
            log.warning("could not set the commit status: %s", exc)


class AuditedModel:
    """Wraps the model so every request leaves an audit record: which model and endpoint (the
    one that failed, for a failure), the prompt version, the sha256 of what was sent and the
    token counts — never the code itself. The code goes only to `transcript`, when given."""

    def __init__(
        self,
        inner: ChatModel,
        audit: AuditLog,
        job_id: int,
        *,
        transcript: TranscriptSink | None = None,
    ) -> None:
        self.inner, self.audit, self.job_id = inner, audit, job_id
        self.transcript = transcript

    @property
    def concurrency(self) -> int:
        return self.inner.concurrency

    def context_for(self, hints: RouteHints | None) -> int:
        return self.inner.context_for(hints)

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        json_mode: bool = True,
        hints: RouteHints | None = None,
    ) -> Completion:
        digest = hashlib.sha256()
        for m in messages:
            digest.update(m.role.encode() + b"\0" + m.content.encode() + b"\0")
        redactions = sum(m.content.count(REDACTION_MARK) for m in messages)
        try:
            completion = self.inner.complete(
                messages, max_tokens=max_tokens, json_mode=json_mode, hints=hints
            )
        except RevisorError as exc:
            endpoint = exc.endpoint if isinstance(exc, ModelUnavailable | ModelError) else ""
            self.audit.record(
                Event.MODEL_REQUEST,
                actor="system:worker",
                target=f"model-endpoint:{endpoint}" if endpoint else "model",
                outcome=Outcome.FAILURE,
                job_id=self.job_id,
                endpoint=endpoint,
                prompt_version=prompt_version(),
                prompt_sha256=digest.hexdigest(),
                redactions=redactions,
                error=type(exc).__name__,
                message=str(exc)[:300],
            )
            if self.transcript is not None:
                self.transcript.exchange(messages, None, error=str(exc), endpoint=endpoint)
            raise
        self.audit.record(
            Event.MODEL_REQUEST,
            actor="system:worker",
            target=f"model:{completion.model}",
            job_id=self.job_id,
            endpoint=completion.endpoint,
            prompt_version=prompt_version(),
            prompt_sha256=digest.hexdigest(),
            redactions=redactions,
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens,
        )
        if self.transcript is not None:
            self.transcript.exchange(messages, completion)
        return completion


def _posted_record(
    result: ReviewResult, posted: PostResult, summary: str, action: str, already_posted: int
) -> dict[str, Any]:
    """The transcript's last entry: the findings parsed from the answers and each text as it
    was sent to the forge (after the inert-text rules, as the adapter sends it)."""

    def comment(c: InlineComment) -> dict[str, Any]:
        return {
            "path": c.path,
            "old_line": c.old_line,
            "new_line": c.new_line,
            "fingerprint": c.fingerprint,
            "body": inert(c.body),
        }

    return {
        "findings": _result_record(result)["findings"],
        "posted": [comment(c) for c in posted.posted],
        "rejected": [{**comment(r.comment), "reason": r.reason} for r in posted.rejected],
        "already_posted": already_posted,
        "summary": {"action": action, "body": inert(summary)},
    }


def _result_record(result: ReviewResult, **extra: Any) -> dict[str, Any]:
    data = asdict(result)
    data["findings"] = [{**asdict(f), "severity": f.severity.label} for f in result.findings]
    data["partial"] = result.partial
    return {**data, **extra}
