"""Deterministic analyzers' hits fused with the model's findings.

The analyzers (`revisor.analyzers`: ruff for Python, the project's ast-grep rule pack for the
other languages) are exact about where and blind about whether it matters; a small model is the
opposite. So a hit is never posted on its own word:

- a hit on a line the model also flagged (same file, within `SAME_SPOT` lines) confirms that
  finding: the model's finding is posted once, naming the rule that agrees with it;
- any other hit on an added line becomes a candidate that the verification pass shows to the
  model, and is posted only if the model confirms it, with its source named;
- hits on unchanged or removed lines, or in files not reviewed, are ignored: the MR did not
  write that code.

Pure functions; the engine calls them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from revisor.domain import AnalyzerHit, FileDiff, Finding, LineKind
from revisor.review.kinds import kinds_of

__all__ = ["SAME_SPOT", "confirm_note", "hit_findings", "merge_with_model", "same_problem"]

SAME_SPOT = 1  # lines
NEARBY = 2  # lines
CLOSE = 4  # lines: two findings this close that name the same kind of problem are one
SIMILAR_TITLES = 0.3  # word overlap (Jaccard) of two titles about one problem


def _source_name(finding: Finding) -> str:
    return f"{finding.source} {finding.rule}".strip()


def hit_findings(hits: Sequence[AnalyzerHit], files: Sequence[FileDiff]) -> list[Finding]:
    """One candidate finding per added line that an analyzer hit covers (the most severe hit
    on that line wins), on the files the review covers."""
    by_path = {f.path: f for f in files}
    best: dict[tuple[str, int], tuple[AnalyzerHit, FileDiff]] = {}
    for hit in hits:
        file = by_path.get(hit.path)
        if file is None:
            continue
        added = [
            ln.new_line
            for ln in file.lines()
            if ln.kind is LineKind.ADDED
            and ln.new_line is not None
            and hit.line <= ln.new_line <= max(hit.line, hit.end_line)
        ]
        if not added:
            continue
        key = (hit.path, added[0])
        if key not in best or hit.severity > best[key][0].severity:
            best[key] = (hit, file)
    out = []
    for (_path, line), (hit, file) in sorted(best.items()):
        title, _, rest = hit.message.partition(". ")
        out.append(
            Finding(
                path=file.path,
                old_path=file.old_path,
                old_line=None,
                new_line=line,
                severity=hit.severity,
                title=title.rstrip("."),
                body=(rest + "\n\n" if rest else "") + f"Found by {hit.source} ({hit.rule}).",
                source=hit.source,
                rule=hit.rule,
            )
        )
    return out


def merge_with_model(
    model: Sequence[Finding], hits: Sequence[Finding]
) -> tuple[list[Finding], list[Finding]]:
    """(model findings, each naming the analyzer rule that agrees with it; hits no model
    finding covers, left for the verification pass)."""
    merged = list(model)
    remaining: list[Finding] = []
    for hit in hits:
        twin = next(
            (
                i
                for i, f in enumerate(merged)
                if f.path == hit.path
                and f.new_line is not None
                and hit.new_line is not None
                and abs(f.new_line - hit.new_line) <= SAME_SPOT
            ),
            None,
        )
        if twin is None:
            remaining.append(hit)
            continue
        found = merged[twin]
        if not found.rule:
            merged[twin] = replace(
                found,
                rule=hit.rule,
                body=f"{found.body}\n\nAlso flagged by {_source_name(hit)}.".strip(),
            )
    return merged, remaining


def confirm_note(finding: Finding, reason: str) -> Finding:
    """An analyzer finding the model confirmed: its reason added to the body."""
    if finding.source == "model":
        return finding
    note = f"Confirmed by the model: {reason}" if reason else "Confirmed by the model."
    return replace(finding, body=f"{finding.body}\n{note}")


def _words(text: str) -> set[str]:
    return {
        w for w in "".join(c.lower() if c.isalnum() else " " for c in text).split() if len(w) > 2
    }


def same_problem(a: Finding, b: Finding) -> bool:
    """Two findings about one problem: on the same line; within `CLOSE` lines with titles that
    name the same kind of problem (`kinds.kinds_of`); or within `NEARBY` lines with similar
    titles or the same rule. Redaction findings (secrets, hidden characters) are their own."""
    if "redaction" in (a.source, b.source):
        return False
    if a.path != b.path or a.new_line is None or b.new_line is None:
        return False
    gap = abs(a.new_line - b.new_line)
    if gap == 0 or (gap <= CLOSE and kinds_of(a.title) & kinds_of(b.title)):
        return True
    if gap > NEARBY:
        return False
    if a.rule and a.rule == b.rule:
        return True
    wa, wb = _words(a.title), _words(b.title)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= SIMILAR_TITLES
