"""The review engine: diff files in, anchored and policy-filtered findings out.

`review_files` is the one function the worker and the `revisor review` command call. It does no
I/O of its own: the model is passed in (`ChatModel`, implemented in `revisor.llm`), and nothing
is logged, so no code can leak into logs from here.

Steps: plan (filter, redact, chunk) -> for each chunk, in parallel up to `model.concurrency`:
prompt -> model -> parse -> anchor -> fingerprint; then suggestions checked (`suggest.py`) and
the policy (minimum severity, in-run dedup, cap). A chunk whose answer is unusable is asked once
more with a short "JSON only" reminder; if that fails too, the chunk counts as failed and the
result is partial (the summary says so in bold). `ModelUnavailable` propagates: the worker
retries the whole job later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from threading import Lock

from revisor.domain import (
    ChatModel,
    Chunk,
    FileDiff,
    Finding,
    MergeRequest,
    ReviewResult,
    RouteHints,
    Usage,
)
from revisor.errors import ConfigError, OutputInvalid
from revisor.review import prompt as prompts
from revisor.review.parse import anchor, parse_output
from revisor.review.plan import Plan, plan_review
from revisor.review.policy import Policy
from revisor.review.redact import redact_text
from revisor.review.render import apply_policy, with_fingerprint
from revisor.review.suggest import left_out_counts, vet_findings

__all__ = ["MIN_DIFF_BUDGET", "ChunkOutcome", "diff_budget", "review_files"]

MIN_DIFF_BUDGET = 256  # tokens; below this a chunk holds too little code to be worth a request
MAX_FINDINGS_PER_CHUNK = 10


@dataclass(frozen=True)
class ChunkOutcome:
    index: int
    findings: tuple[Finding, ...]
    usage: Usage
    model: str
    failed: bool
    dropped_invalid: int = 0
    dropped_unanchored: int = 0
    moved: int = 0
    failure: str = ""


def diff_budget(
    context_tokens: int,
    max_output_tokens: int,
    mr: MergeRequest | None,
    extra_instructions: str,
) -> int:
    """Tokens one chunk's diff may use: the context minus answer, prompts and MR text."""
    budget = context_tokens - max_output_tokens - prompts.overhead_tokens(mr, extra_instructions)
    # Keep a 10% margin: our estimate is not the model's tokenizer.
    return int(budget * 0.9)


def _redacted_mr(mr: MergeRequest | None) -> tuple[MergeRequest | None, int]:
    if mr is None:
        return None, 0
    # Cut to what the prompt shows before redacting: the work is bounded whatever the MR says.
    title, n_title = redact_text(mr.title, max_chars=prompts.MAX_TITLE_CHARS)
    description, n_description = redact_text(
        mr.description, max_chars=prompts.MAX_DESCRIPTION_CHARS
    )
    return replace(mr, title=title, description=description), n_title + n_description


def _review_chunk(
    chunk: Chunk,
    *,
    total: int,
    mr: MergeRequest | None,
    policy: Policy,
    model: ChatModel,
    max_output_tokens: int,
    hints: RouteHints,
) -> ChunkOutcome:
    messages = prompts.build_messages(
        chunk,
        total_chunks=total,
        mr=mr,
        extra_instructions=policy.extra_instructions,
        max_findings=MAX_FINDINGS_PER_CHUNK,
    )
    usage = Usage()
    model_id = ""
    failure = ""
    for attempt in range(2):
        request = messages if attempt == 0 else [*messages, prompts.retry_message()]
        completion = model.complete(
            request, max_tokens=max_output_tokens, json_mode=True, hints=hints
        )
        usage = usage + completion.usage
        model_id = completion.model
        try:
            parsed = parse_output(completion.text)
        except OutputInvalid as exc:
            failure = str(exc)
            if completion.finish_reason == "length":
                failure += " (the answer hit the output token limit)"
            continue
        anchored = anchor(parsed.findings, chunk.files)
        findings = tuple(
            with_fingerprint(f, text)
            for f, text in zip(anchored.findings, anchored.line_texts, strict=True)
        )
        return ChunkOutcome(
            index=chunk.index,
            findings=findings,
            usage=usage,
            model=model_id,
            failed=False,
            dropped_invalid=parsed.dropped_invalid,
            dropped_unanchored=anchored.dropped,
            moved=anchored.moved,
        )
    return ChunkOutcome(chunk.index, (), usage, model_id, failed=True, failure=failure)


def _run_chunks(
    plan: Plan,
    *,
    mr: MergeRequest | None,
    policy: Policy,
    model: ChatModel,
    max_output_tokens: int,
    hints: RouteHints,
    on_progress: Callable[[int, int, Usage], None] | None,
) -> list[ChunkOutcome]:
    total = len(plan.chunks)
    if total == 0:
        return []
    outcomes: list[ChunkOutcome] = []
    lock = Lock()
    running = Usage()

    def work(chunk: Chunk) -> ChunkOutcome:
        nonlocal running
        outcome = _review_chunk(
            chunk,
            total=total,
            mr=mr,
            policy=policy,
            model=model,
            max_output_tokens=max_output_tokens,
            hints=hints,
        )
        with lock:
            outcomes.append(outcome)
            running = running + outcome.usage
            done, so_far = len(outcomes), running
        if on_progress is not None:
            on_progress(done, total, so_far)
        return outcome

    workers = max(1, min(int(model.concurrency), total))
    if workers == 1:
        for chunk in plan.chunks:
            work(chunk)
    else:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="revisor-review")
        try:
            futures: list[Future[ChunkOutcome]] = [pool.submit(work, c) for c in plan.chunks]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                error = future.exception() if future in done else None
                if error is not None:
                    for other in futures:
                        other.cancel()
                    raise error
            for future in futures:
                future.result()
        finally:
            # On an error, don't start chunks that are still queued; running ones finish.
            pool.shutdown(wait=True, cancel_futures=True)
    return sorted(outcomes, key=lambda o: o.index)


def review_files(
    files: Sequence[FileDiff],
    *,
    mr: MergeRequest | None,
    policy: Policy,
    model: ChatModel,
    context_tokens: int,
    max_output_tokens: int,
    on_progress: Callable[[int, int, Usage], None] | None = None,
    hints: RouteHints | None = None,
    read_head: Callable[[str], str | None] | None = None,
) -> ReviewResult:
    """Review parsed diff files with `model` under `policy`.

    `on_progress(done, total, usage_so_far)` is called after each chunk, possibly from a worker
    thread, never with code in it.
    `context_tokens` is the model's context window and `max_output_tokens` what each answer
    may use; the diff budget per request is what remains after prompts and MR text. Raises
    `ConfigError` when the context is too small to hold any diff, and lets `ModelUnavailable`
    (and other model errors) through for the caller to retry or report.
    `read_head(path)`: the file's text at the head revision, or None; asked, in the calling
    thread, only for a Python file that has a suggestion (it must compile in that file).
    """
    started = time.monotonic()
    safe_mr, mr_redactions = _redacted_mr(mr)
    guidance, guidance_redactions = redact_text(policy.extra_instructions)
    policy = replace(policy, extra_instructions=guidance)
    budget = diff_budget(context_tokens, max_output_tokens, safe_mr, policy.extra_instructions)
    if budget < MIN_DIFF_BUDGET:
        raise ConfigError(
            f"the model context ({context_tokens} tokens) minus the answer ({max_output_tokens}) "
            f"and the prompts leaves {budget} tokens for the diff; at least {MIN_DIFF_BUDGET} are "
            "needed: raise the context size or lower max_output_tokens"
        )
    plan = plan_review(files, policy, budget_tokens=budget)
    if hints is None:
        hints = RouteHints(diff_lines=prompts.diff_line_count(files))
    outcomes = _run_chunks(
        plan,
        mr=safe_mr,
        policy=policy,
        model=model,
        max_output_tokens=max_output_tokens,
        hints=hints,
        on_progress=on_progress,
    )
    chunk_files = {chunk.index: chunk.files for chunk in plan.chunks}
    vetted = (vet_findings(o.findings, chunk_files[o.index], read_head) for o in outcomes)
    all_findings = [*plan.findings, *(f for findings in vetted for f in findings)]
    kept, below, over, _duplicates = apply_policy(all_findings, policy)
    usage = Usage()
    for outcome in outcomes:
        usage = usage + outcome.usage
    model_id = next((o.model for o in outcomes if o.model), "")
    return ReviewResult(
        findings=kept,
        reviewed_files=plan.reviewed,
        skipped=plan.skipped,
        model=model_id,
        prompt_version=prompts.prompt_version(),
        usage=usage,
        duration_ms=int((time.monotonic() - started) * 1000),
        chunks_total=len(plan.chunks),
        chunks_failed=sum(1 for o in outcomes if o.failed),
        dropped_unanchored=sum(o.dropped_unanchored + o.dropped_invalid for o in outcomes),
        dropped_below_severity=below,
        dropped_over_cap=over,
        redactions=plan.redactions + mr_redactions + guidance_redactions,
        cut_lines=plan.cut_lines,
        suggestions_left_out=left_out_counts(kept),
    )
