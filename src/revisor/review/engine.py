"""The review engine: diff files in, anchored and policy-filtered findings out.

`review_files` is the one function the worker and the `revisor review` command call. It does no
I/O of its own: the model is passed in (`ChatModel`, implemented in `revisor.llm`), and nothing
is logged, so no code can leak into logs from here.

Steps:
1. select files; read each one's head text (`read_head`) and run the analyzers on them
   (`analyze`, deterministic: ruff, ast-grep); both are injected, so this module does no I/O;
2. plan: each hunk widened to its enclosing function (`context.py`), redact, chunk;
3. for each chunk, in parallel up to `model.concurrency`: prompt -> model -> parse -> anchor
   (by the quoted code line first, `anchor.py`) -> fingerprint; suggestions checked
   (`suggest.py`);
4. fuse with the analyzers' hits on added lines (`fuse.py`), then the verification pass
   (`verify.py`): one short call per candidate; what the model judges false is not posted;
5. the policy: minimum severity, one finding per problem, the cap (`render.apply_policy`).
A chunk whose answer is unusable is asked once more with a short "JSON only" reminder; if that
fails too, the chunk counts as failed and the result is partial (the summary says so in bold).
`ModelUnavailable` propagates: the worker retries the whole job later.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from threading import Lock
from typing import TypeVar

from revisor.domain import (
    AnalyzerHit,
    ChatModel,
    Chunk,
    FileDiff,
    Finding,
    LineKind,
    MergeRequest,
    ReviewResult,
    RouteHints,
    Usage,
)
from revisor.errors import ConfigError, OutputInvalid
from revisor.review import prompt as prompts
from revisor.review.anchor import anchor
from revisor.review.context import widen
from revisor.review.fuse import confirm_note, hit_findings, merge_with_model
from revisor.review.guidance import RepoDocs, guidance_for
from revisor.review.kinds import with_severity_floor
from revisor.review.parse import parse_output
from revisor.review.plan import Plan, plan_review, select_files
from revisor.review.policy import Policy
from revisor.review.redact import redact_text
from revisor.review.render import apply_policy, with_fingerprint
from revisor.review.suggest import left_out_counts, vet_findings
from revisor.review.verify import (
    MAX_VERIFY_TOKENS,
    code_window,
    grounded,
    holds,
    parse_verdict,
    verify_messages,
)

__all__ = ["MIN_DIFF_BUDGET", "Analyze", "ChunkOutcome", "diff_budget", "review_files"]

MIN_DIFF_BUDGET = 256  # tokens; below this a chunk holds too little code to be worth a request
MAX_FINDINGS_PER_CHUNK = 10
MAX_GUIDANCE_CHARS = 4000  # repository guidance per request, at most a quarter of the free room
MAX_HEAD_CHARS = 1_000_000  # a head file larger than this is reviewed on its diff alone
MAX_VERIFIED = 16  # verification calls per review (the most severe candidates first)

T = TypeVar("T")
R = TypeVar("R")
# (head texts by path) -> (hits, errors): the deterministic analyzers, run by the caller's I/O
Analyze = Callable[[Mapping[str, str]], tuple[Sequence[AnalyzerHit], Sequence[str]]]


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
    notes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Verified:
    finding: Finding
    usage: Usage
    real: bool | None  # None: the answer said neither


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


def postable(file: FileDiff, forge_lines: frozenset[tuple[int | None, int | None]]) -> FileDiff:
    """`file` (widened, redacted) narrowed to the lines of the forge's own diff: the only lines
    a comment may be placed on."""
    hunks = []
    for hunk in file.hunks:
        lines = tuple(ln for ln in hunk.lines if (ln.old_line, ln.new_line) in forge_lines)
        if lines:
            hunks.append(replace(hunk, lines=lines))
    return replace(file, hunks=tuple(hunks))


def _line_keys(file: FileDiff) -> frozenset[tuple[int | None, int | None]]:
    return frozenset((ln.old_line, ln.new_line) for ln in file.lines())


def _review_chunk(
    chunk: Chunk,
    *,
    total: int,
    mr: MergeRequest | None,
    policy: Policy,
    model: ChatModel,
    max_output_tokens: int,
    hints: RouteHints,
    forge_lines: Mapping[str, frozenset[tuple[int | None, int | None]]],
    guidance: Callable[[Sequence[str]], str],
) -> ChunkOutcome:
    messages = prompts.build_messages(
        chunk,
        total_chunks=total,
        mr=mr,
        extra_instructions=guidance([f.path for f in chunk.files]),
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
        targets = [postable(f, forge_lines.get(f.path, frozenset())) for f in chunk.files]
        anchored = anchor(parsed.findings, targets)
        findings = tuple(
            with_fingerprint(with_severity_floor(f), text)
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
            notes=parsed.notes,
        )
    return ChunkOutcome(chunk.index, (), usage, model_id, failed=True, failure=failure)


def _in_parallel(
    items: Sequence[T],
    work: Callable[[T], R],
    concurrency: int,
    on_done: Callable[[R], None] | None = None,
) -> list[R]:
    """`work` on each item, up to `concurrency` at a time, results in item order. The first
    exception stops what has not started and is raised; running calls finish first."""
    results: list[R] = []
    if not items:
        return results
    workers = max(1, min(int(concurrency), len(items)))
    if workers == 1:
        for item in items:
            result = work(item)
            if on_done is not None:
                on_done(result)
            results.append(result)
        return results

    def run(item: T) -> R:
        result = work(item)
        if on_done is not None:
            on_done(result)
        return result

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="revisor-review")
    try:
        futures: list[Future[R]] = [pool.submit(run, item) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            error = future.exception() if future in done else None
            if error is not None:
                for other in futures:
                    other.cancel()
                raise error
        return [future.result() for future in futures]
    finally:
        # On an error, don't start items that are still queued; running ones finish.
        pool.shutdown(wait=True, cancel_futures=True)


def _run_chunks(
    plan: Plan,
    *,
    mr: MergeRequest | None,
    policy: Policy,
    model: ChatModel,
    max_output_tokens: int,
    hints: RouteHints,
    forge_lines: Mapping[str, frozenset[tuple[int | None, int | None]]],
    guidance: Callable[[Sequence[str]], str],
    on_progress: Callable[[int, int, Usage], None] | None,
) -> list[ChunkOutcome]:
    total = len(plan.chunks)
    lock = Lock()
    done = 0
    running = Usage()

    def progress(outcome: ChunkOutcome) -> None:
        nonlocal done, running
        with lock:
            done += 1
            running = running + outcome.usage
            so_far, count = running, done
        if on_progress is not None:
            on_progress(count, total, so_far)

    def work(chunk: Chunk) -> ChunkOutcome:
        return _review_chunk(
            chunk,
            total=total,
            mr=mr,
            policy=policy,
            model=model,
            max_output_tokens=max_output_tokens,
            hints=hints,
            forge_lines=forge_lines,
            guidance=guidance,
        )

    return _in_parallel(plan.chunks, work, model.concurrency, progress)


def _chunk_file(plan: Plan, finding: Finding) -> FileDiff | None:
    """The (widened, redacted) file of the chunk that holds the finding's line."""
    for chunk in plan.chunks:
        for file in chunk.files:
            if file.path == finding.path and holds(file, finding):
                return file
    return None


def _verify(
    candidates: Sequence[Finding],
    plan: Plan,
    *,
    model: ChatModel,
    hints: RouteHints,
) -> list[Verified]:
    """The verification pass over `candidates` (see `verify.py`)."""

    def unanswered(finding: Finding, usage: Usage) -> Verified:
        # A model finding stays (a broken verifier must not empty a review); an analyzer hit
        # is posted only on the model's word.
        return Verified(finding, usage, None if finding.source == "model" else False)

    def work(finding: Finding) -> Verified:
        file = _chunk_file(plan, finding)
        code = code_window(file, finding) if file is not None else ""
        if file is None or not code:
            return unanswered(finding, Usage())
        if finding.source == "model" and not grounded(finding, file):
            return Verified(finding, Usage(), False)  # claims what the code cannot hold
        # Not JSON mode: an endpoint in json_schema mode would hold the answer to the findings
        # schema. The prompt asks for a small JSON object; parse_verdict also reads plain words.
        completion = model.complete(
            verify_messages(finding, code),
            max_tokens=MAX_VERIFY_TOKENS,
            json_mode=False,
            hints=hints,
        )
        verdict = parse_verdict(completion.text)
        if verdict is None:
            return unanswered(finding, completion.usage)
        kept = confirm_note(finding, verdict.reason) if verdict.real else finding
        return Verified(kept, completion.usage, verdict.real)

    ranked = sorted(candidates, key=lambda f: -f.severity)
    checked = _in_parallel(ranked[:MAX_VERIFIED], work, model.concurrency)
    # Over the limit: model findings stay as they are, analyzer hits are not posted unchecked.
    return [*checked, *(unanswered(f, Usage()) for f in ranked[MAX_VERIFIED:])]


def _read_heads(
    files: Sequence[FileDiff], policy: Policy, read_head: Callable[[str], str | None] | None
) -> dict[str, str]:
    """Head texts of the files the review will cover (asked once each)."""
    if read_head is None:
        return {}
    kept, _ = select_files(files, policy)
    heads: dict[str, str] = {}
    for file in kept:
        text = read_head(file.path)
        if text is not None and len(text) <= MAX_HEAD_CHARS:
            heads[file.path] = text
    return heads


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
    analyze: Analyze | None = None,
    docs: RepoDocs | None = None,
) -> ReviewResult:
    """Review parsed diff files with `model` under `policy`.

    `on_progress(done, total, usage_so_far)` is called after each chunk, possibly from a worker
    thread, never with code in it.
    `context_tokens` is the model's context window and `max_output_tokens` what each answer
    may use; the diff budget per request is what remains after prompts and MR text. Raises
    `ConfigError` when the context is too small to hold any diff, and lets `ModelUnavailable`
    (and other model errors) through for the caller to retry or report.
    `read_head(path)`: the file's text at the head revision, or None; asked once per file the
    review covers, in the calling thread (context, analyzers, suggestion checks).
    `analyze(heads)`: the deterministic analyzers over those texts.
    `docs`: the repository's guidance files (target branch); with the policy's instructions and
    the path instructions matching a chunk's files, they reach the model as guidance.
    """
    started = time.monotonic()
    safe_mr, mr_redactions = _redacted_mr(mr)
    room = context_tokens - max_output_tokens - prompts.overhead_tokens(safe_mr, "")
    guidance_chars = max(0, min(MAX_GUIDANCE_CHARS, int(room * prompts.CHARS_PER_TOKEN / 4)))
    docs = docs or RepoDocs()
    redactions = Counter[str]()

    def guidance(paths: Sequence[str]) -> str:
        text, found = redact_text(guidance_for(policy, docs, paths, max_chars=guidance_chars))
        redactions[text] = found  # counted once per distinct text, however many chunks
        return text

    widest = guidance([f.path for f in files])  # every chunk's guidance is part of this
    budget = diff_budget(context_tokens, max_output_tokens, safe_mr, widest)
    if budget < MIN_DIFF_BUDGET:
        raise ConfigError(
            f"the model context ({context_tokens} tokens) minus the answer ({max_output_tokens}) "
            f"and the prompts leaves {budget} tokens for the diff; at least {MIN_DIFF_BUDGET} are "
            "needed: raise the context size or lower max_output_tokens"
        )
    heads = _read_heads(files, policy, read_head)
    hits, analyzer_errors = analyze(heads) if analyze is not None and heads else ((), ())
    widened = (lambda f: widen(f, heads.get(f.path))) if policy.widen_context else None
    plan = plan_review(files, policy, budget_tokens=budget, expand=widened)
    forge_lines = {f.path: _line_keys(f) for f in files}
    if hints is None:
        hints = RouteHints(diff_lines=prompts.diff_line_count(files))
    outcomes = _run_chunks(
        plan,
        mr=safe_mr,
        policy=policy,
        model=model,
        max_output_tokens=max_output_tokens,
        hints=hints,
        forge_lines=forge_lines,
        guidance=guidance,
        on_progress=on_progress,
    )
    chunk_files = {chunk.index: chunk.files for chunk in plan.chunks}
    vetted = (vet_findings(o.findings, chunk_files[o.index], heads.get) for o in outcomes)
    model_findings = [f for findings in vetted for f in findings]
    reviewed = [f for f in files if f.path in plan.reviewed]
    added = {
        (f.path, ln.new_line): ln.text
        for f in reviewed
        for ln in f.lines()
        if ln.kind is LineKind.ADDED
    }
    from_hits = [
        with_fingerprint(f, added.get((f.path, f.new_line), ""))
        for f in hit_findings(hits, reviewed)
    ]
    model_findings, from_hits = merge_with_model(model_findings, from_hits)
    usage = Usage()
    unverified = 0
    if policy.verify:
        verified = _verify([*model_findings, *from_hits], plan, model=model, hints=hints)
        for checked in verified:
            usage = usage + checked.usage
        candidates = [c.finding for c in verified if c.real is not False]
        unconfirmed = [c.finding for c in verified if c.real is False]
        unverified = sum(1 for c in verified if c.real is None)
    else:  # an analyzer hit is posted only on the model's word: without it, not at all
        candidates, unconfirmed = model_findings, from_hits
    kept, below, over, _duplicates = apply_policy([*plan.findings, *candidates], policy)
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
        redactions=plan.redactions + mr_redactions + max(redactions.values(), default=0),
        cut_lines=plan.cut_lines,
        suggestions_left_out=left_out_counts(kept),
        file_notes=_file_notes(outcomes, plan.reviewed),
        unconfirmed=tuple(unconfirmed),
        analyzer_errors=tuple(analyzer_errors),
        moved=sum(o.moved for o in outcomes),
        unverified=unverified,
    )


def _file_notes(
    outcomes: Sequence[ChunkOutcome], reviewed: Sequence[str]
) -> tuple[tuple[str, str], ...]:
    """The model's sentence per reviewed file (the first one given), in review order."""
    notes: dict[str, str] = {}
    for outcome in outcomes:
        for path, note in outcome.notes:
            notes.setdefault(path, note)
    return tuple((path, notes[path]) for path in reviewed if path in notes)
