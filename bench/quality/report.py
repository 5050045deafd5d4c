"""The quality benchmark's Markdown report (bench/results/quality-<model>-<date>.md). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.quality.score import MRScore, total

_PER_MR = (
    ("tool", "tool"),
    ("mr", "MR"),
    ("languages", "lang"),
    ("changed_lines", "changed"),
    ("defects", "defects"),
    ("found", "found"),
    ("findings", "findings"),
    ("duplicates", "dup"),
    ("false_positives", "FP"),
    ("rejected_positions", "rejected"),
    ("prose_suggestions", "prose sugg"),
    ("recall", "recall"),
    ("precision", "precision"),
    ("f1", "F1"),
    ("prompt_tokens", "prompt tok"),
    ("completion_tokens", "completion tok"),
    ("wall_s", "wall s"),
    ("outcome", "outcome"),
)


def cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]


def totals_table(
    rows: Sequence[Mapping[str, Any]], scores: Mapping[str, list[MRScore]]
) -> list[str]:
    body = []
    for tool, tool_scores in scores.items():
        c, _kinds = total(tool_scores)
        mine = [r for r in rows if r["tool"] == tool]
        if not mine:  # derived from another tool's run (an ablation): no calls of its own
            body.append([tool, len(tool_scores), c.defects, c.found, c.findings, c.duplicates,
                         c.false_positives, None, c.suggestions, c.prose_suggestions, c.recall,
                         c.precision, c.f1, c.explained, None, None, None])  # fmt: skip
            continue
        body.append(
            [
                tool,
                len(mine),
                c.defects,
                c.found,
                c.findings,
                c.duplicates,
                c.false_positives,
                sum(r["rejected_positions"] for r in mine),
                c.suggestions,
                c.prose_suggestions,
                c.recall,
                c.precision,
                c.f1,
                c.explained,
                sum(r["prompt_tokens"] for r in mine),
                sum(r["completion_tokens"] for r in mine),
                round(sum(r["wall_s"] for r in mine), 1),
            ]
        )
    header = ["tool", "MRs", "defects", "found", "findings", "dup", "FP", "rejected",
              "suggestions", "prose", "recall", "precision", "F1", "explained", "prompt tok",
              "completion tok", "wall s"]  # fmt: skip
    return table(header, body)


def kinds_table(scores: Mapping[str, list[MRScore]]) -> list[str]:
    per_tool = {tool: total(s)[1] for tool, s in scores.items()}
    kinds = sorted({k for kinds in per_tool.values() for k in kinds})
    body = []
    for kind in kinds:
        planted = max(kinds.get(kind, (0, 0))[1] for kinds in per_tool.values())
        body.append([kind, planted] + [per_tool[t].get(kind, (0, 0))[0] for t in per_tool])
    return table(["kind", "planted", *(f"{t} found" for t in per_tool)], body)


def clean_mrs(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """On an MR with nothing planted the right review flags nothing."""
    clean = [r for r in rows if r["defects"] == 0]
    return [
        f"- {r['tool']} on `{r['mr']}`: {r['findings']} finding(s)"
        + (" (right)" if r["findings"] == 0 else " (all false positives)")
        for r in clean
    ]


def details(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        missed = ", ".join(r["missed"]) or "none"
        fps = ", ".join(r["false_positive_at"]) or "none"
        dups = ", ".join(r.get("duplicate_at", [])) or "none"
        out.append(
            f"- {r['tool']} `{r['mr']}`: missed {missed}; false positives at {fps}; "
            f"duplicates at {dups}"
        )
        out += [f"  - error: `{e}`" for e in r.get("errors", [])]
    return out


def pipeline_counts(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """What Revisor's anchoring and verification did (rows of runs that record it)."""
    ours = [r for r in rows if "moved" in r]
    if not ours:
        return []
    moved = sum(r["moved"] for r in ours)
    dropped = sum(r["dropped_unanchored"] for r in ours)
    unconfirmed = sum(r["unconfirmed"] for r in ours)
    return [
        f"Revisor's pipeline over these MRs: {moved} finding(s) placed on another line than the "
        f"number the model gave (by the code line it quoted, or to the nearest changed line), "
        f"{dropped} dropped as malformed or not on a line of the diff, {unconfirmed} "
        'candidate(s) not confirmed by the verification pass (not posted). The rows "without '
        'verification" and "without analyzers" are the same run scored without that stage.',
        "",
    ]


def render(result: Mapping[str, Any]) -> str:
    rows: list[Mapping[str, Any]] = result["rows"]
    scores: Mapping[str, list[MRScore]] = result["scores"]
    corpus = result["corpus"]
    planted = sum(len(m["defects"]) for m in corpus)
    langs = sorted({lang for m in corpus for lang in m["languages"]})
    lines = [
        f"# Quality benchmark: {result['model']}",
        "",
        f"Run {result['date']} on {result['cpus']} CPU(s) with `python -m bench.quality`. "
        f"Corpus: {len(corpus)} MR(s), {planted} planted defect(s), "
        f"{sum(1 for m in corpus if not m['defects'])} clean, languages: {', '.join(langs)}. "
        f"A finding matches a defect on the same path within +-{result['tolerance_lines']} "
        f"lines of its range; output cap {result['output_cap_tokens']} tokens per call.",
        "",
        "\n>\n".join(f"> {n}" for n in result.get("notes", [])),
        "",
        "## Totals",
        "",
        *totals_table(rows, scores),
        "",
        *pipeline_counts(rows),
        "## Per merge request",
        "",
        *table([h for _k, h in _PER_MR], [[r[k] for k, _h in _PER_MR] for r in rows]),
        "",
        "## Recall per kind",
        "",
        *kinds_table(scores),
        "",
        "## Clean merge requests",
        "",
        *(clean_mrs(rows) or ["- none in this run"]),
        "",
        "## Misses and false positives",
        "",
        *details(rows),
        "",
    ]
    return "\n".join(lines)
