"""Scoring posted review findings against a corpus MR's planted defects. Pure functions.

A finding is an inline comment (path + head-side line). It can match a defect when the path is
the same and the line lies in the defect's range widened by `TOLERANCE` lines each side. Each
finding matches at most one defect and each defect at most one finding; among all such
pairings the one with the most matches is taken (augmenting paths, deterministic order, nearer
defects tried first, findings that name the defect's keywords before those that do not).

An unmatched finding is a *duplicate* when it is about a defect another finding already matched
(it would have matched it by position, and its text names one of that defect's keywords, or the
defect lists none), or when an earlier finding sits on the same path and line; otherwise it is a
*false positive*: a claim about something else beside a found defect is a wrong claim, not the
same one twice. Duplicates are reported on their own and still count against precision:
precision = matched findings / all findings, recall = matched defects / defects.

General notes (no position) are not findings here: a defect is found where it is, or not at all.

Suggestions are counted on their own: every ```suggestion block in a posted finding, and of those
the *prose* ones, judged here without Revisor's own code (`looks_like_prose`): a block with a line
of four or more words and none of the characters code is written with (nor a trailing colon).
Applied, such a block would replace code with a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from bench.quality.corpus import Defect

TOLERANCE = 3
_SUGGESTION = re.compile(r"^(`{3,}|~{3,})suggestion\b[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
_CODE_CHARS = set("()[]{}=;<>\"'`$@&|\\")
_COMMENT_STARTS = ("#", "//", "/*", "*", "--", "<!--")
_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int | None  # head-side line; None for a comment on a removed line
    body: str = ""


@dataclass(frozen=True)
class Counts:
    """Sums over one or more MRs; the ratios are None where they are undefined."""

    defects: int = 0
    found: int = 0  # defects matched by a finding
    findings: int = 0
    duplicates: int = 0
    false_positives: int = 0
    explained: int = 0  # matched findings whose text names one of the defect's keywords
    suggestions: int = 0  # ```suggestion blocks posted
    prose_suggestions: int = 0  # of those, blocks of prose rather than code

    @property
    def recall(self) -> float | None:
        return self.found / self.defects if self.defects else None

    @property
    def precision(self) -> float | None:
        return self.found / self.findings if self.findings else None

    @property
    def f1(self) -> float | None:
        r, p = self.recall, self.precision
        if r is None:
            return None
        if p is None or r + p == 0:
            return 0.0
        return 2 * p * r / (p + r)

    def __add__(self, other: Counts) -> Counts:
        names = [f.name for f in fields(self)]
        return Counts(**{n: getattr(self, n) + getattr(other, n) for n in names})


@dataclass(frozen=True)
class MRScore:
    counts: Counts
    matched: tuple[tuple[str, int], ...]  # (defect id, finding index)
    missed: tuple[str, ...]  # defect ids no finding matched
    duplicate_findings: tuple[int, ...]
    false_positive_findings: tuple[int, ...]
    by_kind: Mapping[str, tuple[int, int]]  # kind -> (found, planted)


def suggestion_blocks(body: str) -> list[str]:
    """The contents of the ```suggestion blocks (GitLab's syntax, any -N+M range) in a body."""
    return [m.group(2) for m in _SUGGESTION.finditer(body)]


def looks_like_prose(block: str) -> bool:
    """A block that reads as a sentence: some line, not a comment, has four or more words and no
    character code is written with. `return None` and `x = y.strip()` are code; "Use a
    parameterised query instead." is prose."""
    for raw in block.splitlines():
        line = raw.strip()
        if not line or line.startswith(_COMMENT_STARTS) or line.endswith((":", ",")):
            continue  # a comment, or a block's or a call's opening line
        if len(_WORD.findall(line)) >= 4 and not _CODE_CHARS & set(line):
            return True
    return False


def distance(defect: Defect, finding: Finding) -> int | None:
    """Lines between the finding and the defect's range (0 inside); None if it cannot match."""
    if finding.path != defect.path or finding.line is None:
        return None
    if defect.start <= finding.line <= defect.end:
        return 0
    gap = defect.start - finding.line if finding.line < defect.start else finding.line - defect.end
    return gap if gap <= TOLERANCE else None


def _candidates(defects: Sequence[Defect], finding: Finding) -> list[int]:
    near = [
        (d, i) for i, defect in enumerate(defects) if (d := distance(defect, finding)) is not None
    ]
    return [i for _d, i in sorted(near)]


def match(defects: Sequence[Defect], findings: Sequence[Finding]) -> dict[int, int]:
    """A maximum matching, finding index -> defect index (Kuhn's augmenting paths). Pairs where
    the finding is about the defect (names a keyword) are matched first: a leak found by its
    name wins its defect over an "SQL injection" that happens to sit two lines away."""
    every = [_candidates(defects, f) for f in findings]
    about = [[di for di in c if _about(defects[di], findings[fi])] for fi, c in enumerate(every)]
    owner: dict[int, int] = {}  # defect index -> finding index

    def augment(options: list[list[int]], fi: int, seen: set[int]) -> bool:
        for di in options[fi]:
            if di in seen:
                continue
            seen.add(di)
            if di not in owner or augment(options, owner[di], seen):
                owner[di] = fi
                return True
        return False

    for options in (about, every):
        for fi in range(len(findings)):
            if fi not in owner.values():
                augment(options, fi, set())
    return {fi: di for di, fi in owner.items()}


def _about(defect: Defect, finding: Finding) -> bool:
    """The finding's text names one of the defect's keywords (true when it lists none)."""
    text = finding.body.lower()
    return not defect.keywords or any(k.lower() in text for k in defect.keywords)


def score_mr(defects: Sequence[Defect], findings: Sequence[Finding]) -> MRScore:
    pairs = match(defects, findings)
    matched_defects = set(pairs.values())
    duplicates: list[int] = []
    false_positives: list[int] = []
    seen_spots: set[tuple[str, int | None]] = set()
    for fi, f in enumerate(findings):
        spot = (f.path, f.line)
        if fi not in pairs:
            near = [di for di in _candidates(defects, f) if di in matched_defects]
            if spot in seen_spots or any(_about(defects[di], f) for di in near):
                duplicates.append(fi)
            else:
                false_positives.append(fi)
        seen_spots.add(spot)
    explained = sum(
        1 for fi, di in pairs.items() if defects[di].keywords and _about(defects[di], findings[fi])
    )
    blocks = [b for f in findings for b in suggestion_blocks(f.body)]
    by_kind: dict[str, tuple[int, int]] = {}
    for di, d in enumerate(defects):
        found, planted = by_kind.get(d.kind, (0, 0))
        by_kind[d.kind] = (found + (di in matched_defects), planted + 1)
    return MRScore(
        Counts(
            defects=len(defects),
            found=len(pairs),
            findings=len(findings),
            duplicates=len(duplicates),
            false_positives=len(false_positives),
            explained=explained,
            suggestions=len(blocks),
            prose_suggestions=sum(looks_like_prose(b) for b in blocks),
        ),
        tuple(sorted((defects[di].id, fi) for fi, di in pairs.items())),
        tuple(d.id for di, d in enumerate(defects) if di not in matched_defects),
        tuple(duplicates),
        tuple(false_positives),
        by_kind,
    )


def total(scores: Iterable[MRScore]) -> tuple[Counts, dict[str, tuple[int, int]]]:
    """Micro-averaged sums over MRs, and found/planted per kind."""
    counts = Counts()
    kinds: dict[str, tuple[int, int]] = {}
    for s in scores:
        counts = counts + s.counts
        for kind, (found, planted) in s.by_kind.items():
            f0, p0 = kinds.get(kind, (0, 0))
            kinds[kind] = (f0 + found, p0 + planted)
    return counts, dict(sorted(kinds.items()))


def findings_from_discussions(discussions: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """The inline comments of a merge request, from GitLab's discussions JSON (first note of
    each discussion that carries a position), in posting order."""
    out: list[Finding] = []
    for d in discussions:
        notes = d.get("notes") or []
        if not notes or not isinstance(notes[0], Mapping):
            continue
        note = notes[0]
        pos = note.get("position")
        if not isinstance(pos, Mapping):
            continue
        line = pos.get("new_line")
        path = pos.get("new_path") or pos.get("old_path") or ""
        out.append(
            Finding(str(path), int(line) if line is not None else None, str(note.get("body", "")))
        )
    return out
