"""The merge request's summary note: what a developer reads first.

In order, under the partial-review warning when there is one:

1. what the MR changes, file by file, one sentence each: the model's note for the file
   (`ReviewResult.file_notes`, escaped like all model text) or, when it wrote none, a sentence
   Revisor derives from the diff (`describe.describe_change`);
2. the findings, highest severity first, each with its place, its title and, when an analyzer
   found it, that analyzer and rule;
3. what was not reviewed or not posted, and why: the counts of findings left out (already
   posted, below the minimum severity, over the cap, not on a diff line, not confirmed by the
   verification pass), suggestions left out, analyzer problems, redactions, cut lines, comments
   the forge refused to place, and skipped files with their reasons;
4. the repository configuration's warnings, then a footer with the model and the usage.

Every text that comes from the model or the repository (notes, titles, paths, reasons) is escaped
as in `render`, and the whole ends with `inert()`. Lists longer than `COLLAPSE_AFTER` are folded
in a `<details>` block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from revisor.domain import (
    FileDiff,
    Finding,
    RejectedComment,
    ReviewResult,
    Severity,
)
from revisor.review.describe import describe_change
from revisor.review.memory import Coverage, summary_lines
from revisor.review.policy import Policy
from revisor.review.render import SEVERITY_BADGE, code_span, escape_markdown
from revisor.text.inert import inert
from revisor.text.markers import SUMMARY_MARKER

__all__ = ["COLLAPSE_AFTER", "MAX_NOTE_CHARS", "render_summary"]

COLLAPSE_AFTER = 15
MAX_NOTE_CHARS = 300  # of the model's sentence about one file; the rest is cut


def _block(items: Sequence[str], title: str, *, collapse: bool = True) -> list[str]:
    """A titled list; folded in <details> past COLLAPSE_AFTER items. `title`: Revisor's own
    words (letters, digits, spaces and parentheses only)."""
    if not items:
        return []
    lines = [f"- {item}" for item in items]
    if collapse and len(items) > COLLAPSE_AFTER:
        return [f"<details><summary>{title}</summary>", "", *lines, "", "</details>", ""]
    return [f"**{title}**", "", *lines, ""]


def _location(path: str, line: int | None) -> str:
    return code_span(f"{path}:{line}" if line is not None else path)


def _one_line(text: str, limit: int = 0) -> str:
    """`text` on one line; with `limit`, cut to that many characters (an ellipsis added)."""
    line = " ".join(text.split())
    return line[: limit - 1].rstrip() + "…" if limit and len(line) > limit else line


# --- 1. what the MR changes -----------------------------------------------------------------


def _changes(result: ReviewResult, files: Sequence[FileDiff]) -> list[str]:
    notes: dict[str, str] = {}
    for path, sentence in result.file_notes:
        if sentence.strip() and path not in notes:
            notes[path] = sentence
    diffs = {f.path: f for f in files}
    items: list[str] = []
    for path in result.reviewed_files:
        if path in notes:
            sentence = escape_markdown(_one_line(notes[path], MAX_NOTE_CHARS))
        elif path in diffs:
            sentence = describe_change(diffs[path])
        else:
            sentence = ""
        items.append(f"{code_span(path)}: {sentence}" if sentence else code_span(path))
    return _block(items, f"Files reviewed ({len(items)})")


# --- 2. findings ----------------------------------------------------------------------------


def _source(finding: Finding) -> str:
    """Who found it, when not the model alone: "ruff S608, confirmed by the model"."""
    if finding.source == "model":
        return ""
    if finding.source == "redaction":
        return "found before the model saw the code"
    name = " ".join(t for t in (finding.source, finding.rule) if t)
    return f"{escape_markdown(_one_line(name))}, confirmed by the model"


def _finding(finding: Finding) -> str:
    line = finding.new_line if finding.new_line is not None else finding.old_line
    text = (
        f"**{SEVERITY_BADGE[finding.severity]}** {_location(finding.path, line)}: "
        f"{escape_markdown(_one_line(finding.title))}"
    )
    source = _source(finding)
    return f"{text} ({source})" if source else text


def _findings(findings: Sequence[Finding]) -> list[str]:
    if not findings:
        return ["**Findings:** none", ""]
    counts = Counter(f.severity for f in findings)
    by_severity = ", ".join(
        f"{counts[s]} {s.label}" for s in sorted(Severity, reverse=True) if counts[s]
    )
    ranked = sorted(
        findings,
        key=lambda f: (-int(f.severity), f.path, f.new_line or f.old_line or 0, f.title),
    )
    items = [_finding(f) for f in ranked]
    head = [f"**Findings:** {len(findings)} ({by_severity})", ""]
    if len(items) > COLLAPSE_AFTER:
        return [*head, *_block(items, f"All findings ({len(items)})")]
    return [*head, *(f"- {item}" for item in items), ""]


# --- 3. what was not reviewed or not posted -------------------------------------------------


def _not_posted(result: ReviewResult, already_posted: int) -> list[str]:
    notes: list[str] = []
    if already_posted:
        notes.append(f"{already_posted} already posted earlier")
    if result.dropped_below_severity:
        notes.append(f"{result.dropped_below_severity} below the minimum severity")
    if result.dropped_over_cap:
        notes.append(f"{result.dropped_over_cap} over the comment limit")
    if result.dropped_unanchored:
        notes.append(f"{result.dropped_unanchored} malformed or not on a line of the diff")
    return ["Not posted: " + "; ".join(notes) + "."] if notes else []


def _left_out(result: ReviewResult, already_posted: int) -> list[str]:
    items = _not_posted(result, already_posted)
    unconfirmed = len(result.unconfirmed)
    if unconfirmed:
        items.append(
            f"{unconfirmed} candidate finding{'s' if unconfirmed != 1 else ''} not confirmed "
            "by the verification pass."
        )
    total = sum(n for _, n in result.suggestions_left_out)
    if total:
        reasons = ", ".join(
            f"{n} {escape_markdown(_one_line(reason))}" for reason, n in result.suggestions_left_out
        )
        items.append(f"{total} suggestion{'s' if total != 1 else ''} left out: {reasons}.")
    items += [
        f"Analyzer problem: {escape_markdown(_one_line(error))}" for error in result.analyzer_errors
    ]
    if result.redactions:
        items.append(
            f"Redacted before review: {result.redactions} secret(s) or hidden characters "
            "(the model never saw them)."
        )
    if result.cut_lines:
        items.append(
            f"Cut before review: {result.cut_lines} line(s) too long for the model; the rest of "
            "each such line was not reviewed."
        )
    return _block(items, "Not reviewed or not posted", collapse=False)


def _not_inline(rejected: Sequence[RejectedComment]) -> list[str]:
    items: list[str] = []
    for each in rejected:
        comment = each.comment
        line = comment.new_line if comment.new_line is not None else comment.old_line
        first = comment.body.split("\n", 1)[0]  # the already-escaped severity + title line
        items.append(f"{_location(comment.path, line)}: {first}")
    return _block(items, f"Comments that could not be placed on their line ({len(items)})")


def _skipped(result: ReviewResult) -> list[str]:
    items = [f"{code_span(s.path)}: {escape_markdown(s.reason)}" for s in result.skipped]
    return _block(items, f"Files skipped ({len(items)})")


# --- 4. configuration and footer ------------------------------------------------------------


def _configuration(policy: Policy | None) -> list[str]:
    if policy is None or not (policy.warnings or policy.ignored_keys):
        return []
    out = ["**Repository configuration**", ""]
    out += [f"- {escape_markdown(w)}" for w in policy.warnings]
    if policy.ignored_keys:
        keys = ", ".join(code_span(k) for k in policy.ignored_keys)
        out.append(f"- `.revisor.toml` keys not allowed, ignored: {keys}")
    return [*out, ""]


def _footer(result: ReviewResult) -> str:
    usage = result.usage
    seconds = result.duration_ms / 1000
    return (
        f"<sub>Model {code_span(result.model or 'none')} · prompt "
        f"{code_span(result.prompt_version)} · {usage.prompt_tokens:,} prompt + "
        f"{usage.completion_tokens:,} completion tokens in {usage.requests} request(s) · "
        f"{seconds:.1f} s</sub>"
    )


def render_summary(
    result: ReviewResult,
    *,
    files: Sequence[FileDiff] = (),
    policy: Policy | None = None,
    not_inline: Sequence[RejectedComment] = (),
    already_posted: int = 0,
    coverage: Coverage | None = None,
) -> str:
    """The MR summary note. `files`: the MR's changes (for the sentence of a reviewed file the
    model wrote no note for); `not_inline`: comments the forge refused to place on their line;
    `coverage`: what this review covered and what earlier ones did (`review.memory`)."""
    out = [SUMMARY_MARKER, "### Revisor review", "", *summary_lines(coverage)]
    if result.partial:
        out += [
            f"> **Warning: partial review.** {result.chunks_failed} of {result.chunks_total} "
            "parts of the diff could not be reviewed because the model's answer was not usable "
            "(after one retry). Findings below cover only the other parts. Request a new review "
            "with `/revisor review`.",
            "",
        ]
    out += _changes(result, files)
    out += _findings(result.findings)
    out += _left_out(result, already_posted)
    out += _not_inline(not_inline)
    out += _skipped(result)
    out += _configuration(policy)
    out.append(_footer(result))
    return inert("\n".join(out))
