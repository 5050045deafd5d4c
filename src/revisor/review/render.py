"""Markdown for what Revisor posts: inline comments, the summary, and fingerprints.

Model output is untrusted: a prompt-injected diff can make the model write anything. So model
text is rendered inert: no raw HTML (`<` and `>` escaped), no images, no links (`[t](u)`
neutralised), and every URL, `www.` host, e-mail address, @mention and reference (`#12`, `!12`,
`~label`, `%milestone`, `&epic`, `$snippet`, `group/project#12`) shown as code, which neither
forge links (see `text.inert`). Code spans and fenced blocks are kept as they are and an
unclosed fence is closed so it cannot swallow the hidden marker. Paths and reasons in the
summary come from the repository and are escaped the same way. Every rendered text ends with
`inert()`, the pass the forge adapters also apply to whatever they send: no line starts a
GitLab quick action.

Fingerprints identify a finding across re-reviews: sha256 over the path, the normalised title
and the normalised text of the anchored line, not its number, so a finding that moves because
lines were inserted above it keeps its fingerprint and is not posted twice.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace

from revisor.domain import (
    Finding,
    InlineComment,
    RejectedComment,
    ReviewResult,
    Severity,
    SuggestionStyle,
)
from revisor.review.memory import Coverage, summary_lines
from revisor.review.policy import Policy
from revisor.text.inert import (
    closes_fence,
    code_spans,
    inert,
    inert_prose,
    is_fenced_command,
    opens_fence,
)
from revisor.text.markers import SUMMARY_MARKER, fingerprint_marker

__all__ = [
    "apply_policy",
    "dedup",
    "escape_markdown",
    "fingerprint",
    "render_comment",
    "render_summary",
]


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def fingerprint(path: str, title: str, line_text: str) -> str:
    """16 hex digits, stable across line shifts and whitespace-only edits of the line."""
    material = "\0".join((path, _normalise(title), " ".join(line_text.split())))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# --- escaping -------------------------------------------------------------------------------

_LINK = re.compile(r"\[(?P<ltext>[^\]\n]*)\]\((?P<lurl>[^)\n]*)\)")
_REF_LINK = re.compile(r"\[([^\]\n]*)\]\[([^\]\n]*)\]|^\s{0,3}\[([^\]\n]+)\]:", re.MULTILINE)


def _code(text: str) -> str:
    """Wrap text in a code span that its own backticks cannot close."""
    text = text.replace("\n", " ")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _escape_words(text: str) -> str:
    text = _REF_LINK.sub(lambda m: m.group(0).replace("[", "\\[").replace("]", "\\]"), text)
    return inert_prose(text.replace(">", "&gt;"))


def _escape_plain(text: str) -> str:
    """Escape prose outside code: HTML, images, links, URLs, mentions and references."""
    out: list[str] = []
    pos = 0
    for match in _LINK.finditer(text):
        out.append(_escape_words(text[pos : match.start()]))
        label = _escape_words(match.group("ltext"))
        out.append(f"\\[{label}\\]({_code(match.group('lurl'))})")
        pos = match.end()
    out.append(_escape_words(text[pos:]))
    return "".join(out)


def _escape_line(line: str) -> str:
    out: list[str] = []
    pos = 0
    for start, end in code_spans(line):
        out.append(_escape_plain(line[pos:start]))
        out.append(line[start:end])  # code spans render literally: keep them readable
        pos = end
    out.append(_escape_plain(line[pos:]))
    return "".join(out)


# Fenced languages a forge does not show as code but renders: diagrams drawn by a PlantUML or
# Kroki server (which can be made to fetch URLs), maps that load tiles, math, 3D models, and
# suggestions (the model's own suggestion field is the checked way to make one).
_RENDERED_LANGUAGES = frozenset(
    {
        "actdiag", "blockdiag", "bpmn", "bytefield", "c4plantuml", "d2", "dbml", "ditaa", "dot",
        "erd", "excalidraw", "geojson", "graphviz", "kroki", "math", "mermaid", "nomnoml",
        "nwdiag", "packetdiag", "pikchr", "plantuml", "puml", "rackdiag", "seqdiag", "stl",
        "structurizr", "suggestion", "svgbob", "symbolator", "tikz", "topojson", "umlet", "vega",
        "vegalite", "wavedrom", "wireviz",
    }
)  # fmt: skip
_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.\-]{1,20}")


def _fence_opener(fence: str, line: str) -> str:
    """The opening line of a model's fenced block: its language if it is a plain one, else none."""
    info = line.strip()[len(fence) :].split()
    language = info[0] if info else ""
    if _LANGUAGE.fullmatch(language) and language.lower() not in _RENDERED_LANGUAGES:
        return fence + language
    return fence


def escape_markdown(text: str) -> str:
    """Model text -> markdown that shows the text and does nothing else."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if fence is None:
            fence = opens_fence(line)
            if fence is not None:
                lines.append(_fence_opener(fence, line))
            else:
                lines.append(_escape_line(line))
            continue
        if closes_fence(line, fence):
            fence = None
        lines.append(line)
    return inert("\n".join(lines))  # closes an open fence, escapes quick actions


# --- inline comments ------------------------------------------------------------------------

_SEVERITY_BADGE = {
    Severity.INFO: "Info",
    Severity.MINOR: "Minor",
    Severity.MAJOR: "Major",
    Severity.CRITICAL: "Critical",
}


def _fence(lines: Sequence[str]) -> str:
    """A backtick fence longer than any backtick run in `lines`."""
    longest = max((len(m) for m in re.findall(r"`{3,}", "\n".join(lines))), default=2)
    return "`" * max(3, longest + 1)


def _offsets(finding: Finding) -> tuple[int, int] | None:
    """(lines above, lines below) the commented line that the suggestion replaces too, or None
    when its lines do not include the commented line."""
    line = finding.new_line
    if line is None:
        return None
    first = line if finding.suggestion_first is None else finding.suggestion_first
    last = line if finding.suggestion_last is None else finding.suggestion_last
    if not first <= line <= last:
        return None
    return line - first, last - line


def _suggestion_block(lines: Sequence[str], above: int, below: int) -> str:
    """GitLab's suggestion: `suggestion:-N+M` replaces the commented line, N lines above it and
    M below it with the block's lines (plain `suggestion` is the line alone)."""
    fence = _fence(lines)
    offsets = f":-{above}+{below}" if above or below else ""
    return f"{fence}suggestion{offsets}\n{chr(10).join(lines)}\n{fence}"


def _suggestion_diff(lines: Sequence[str], replaces: Sequence[str]) -> str:
    """For a forge without suggestions: the change as a fenced diff, to read and copy."""
    body = [*(f"-{line}" for line in replaces), *(f"+{line}" for line in lines)]
    fence = _fence(body)
    return f"Suggested change:\n\n{fence}diff\n{chr(10).join(body)}\n{fence}"


def _left_out(reason: str) -> str:
    return f"_A suggested change was left out: {reason}._"


def _suggestion(finding: Finding, style: SuggestionStyle) -> str | None:
    """The finding's suggested change as `style` shows it, a note saying why it was left out,
    or None when it has none. A suggestion with a line in the shape of a quick action is left
    out (GitLab may run it even inside the block, see `text.inert`)."""
    if finding.suggestion_left_out:
        return _left_out(finding.suggestion_left_out)
    offsets = _offsets(finding)
    if not finding.suggestion or offsets is None:
        return None
    lines = finding.suggestion.rstrip("\n").split("\n")
    if any(is_fenced_command(line) for line in lines):
        return _left_out("a line of it starts with `/`")
    if style is SuggestionStyle.DIFF:
        return _suggestion_diff(lines, finding.suggestion_replaces)
    return _suggestion_block(lines, *offsets)


def render_comment(
    finding: Finding, style: SuggestionStyle = SuggestionStyle.BLOCK
) -> InlineComment:
    """The inline comment for one anchored finding (which must carry its fingerprint).
    `style`: how the forge shows a suggested change (`Forge.suggestion_style`)."""
    parts = [f"**{_SEVERITY_BADGE[finding.severity]}:** {escape_markdown(finding.title)}"]
    if finding.body:
        parts.append(escape_markdown(finding.body))
    suggestion = _suggestion(finding, style)
    if suggestion is not None:
        parts.append(suggestion)
    footer = "Revisor (automated review)"
    if finding.source == "redaction":
        footer += " · detected before the model saw the code"
    parts.append(f"<sub>{footer}</sub>")
    parts.append(fingerprint_marker(finding.fingerprint))
    return InlineComment(
        path=finding.path,
        old_path=finding.old_path,
        old_line=finding.old_line,
        new_line=finding.new_line,
        body=inert("\n\n".join(parts)),
        fingerprint=finding.fingerprint,
    )


# --- selection ------------------------------------------------------------------------------


def _rank(finding: Finding) -> tuple[int, int, str, int]:
    return (
        -int(finding.severity),
        0 if finding.source == "redaction" else 1,
        finding.path,
        finding.new_line or finding.old_line or 0,
    )


def apply_policy(
    findings: Iterable[Finding], policy: Policy
) -> tuple[tuple[Finding, ...], int, int, int]:
    """Min severity, in-run dedup by fingerprint, then the per-MR cap, most severe first.

    Redaction findings (credentials, hidden Unicode) bypass both the minimum severity and the
    cap: they are about security and are never noise. Returns (kept, below_severity, over_cap,
    duplicates).
    """
    seen: set[str] = set()
    unique: list[Finding] = []
    duplicates = 0
    for finding in findings:
        key = finding.fingerprint or f"{finding.path}:{finding.new_line}:{finding.title}"
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        unique.append(finding)
    ranked = sorted(unique, key=_rank)
    kept: list[Finding] = []
    below = over = 0
    model_count = 0
    for finding in ranked:
        if finding.source == "redaction":
            kept.append(finding)
        elif finding.severity < policy.min_severity:
            below += 1
        elif model_count >= policy.max_comments:
            over += 1
        else:
            kept.append(finding)
            model_count += 1
    return tuple(kept), below, over, duplicates


def dedup(
    findings: Sequence[Finding], existing: Collection[str]
) -> tuple[tuple[Finding, ...], int]:
    """Drop findings whose fingerprint was already posted on this MR; return (new, skipped)."""
    new = tuple(f for f in findings if f.fingerprint not in existing)
    return new, len(findings) - len(new)


def with_fingerprint(finding: Finding, line_text: str) -> Finding:
    return replace(finding, fingerprint=fingerprint(finding.path, finding.title, line_text))


# --- summary --------------------------------------------------------------------------------

_COLLAPSE_AFTER = 15


def _path_list(items: Sequence[str], title: str) -> list[str]:
    if not items:
        return []
    lines = [f"- {item}" for item in items]
    if len(items) > _COLLAPSE_AFTER:
        return [f"<details><summary>{title} ({len(items)})</summary>", "", *lines, "", "</details>"]
    return [f"**{title} ({len(items)})**", "", *lines]


def _location(path: str, line: int | None) -> str:
    return _code(f"{path}:{line}" if line is not None else path)


def _suggestions_left_out(counts: Sequence[tuple[str, int]]) -> list[str]:
    """ "3 suggestions left out: 2 not code, 1 same as the code." (reasons are Revisor's own)."""
    total = sum(n for _, n in counts)
    if not total:
        return []
    reasons = ", ".join(f"{n} {escape_markdown(reason)}" for reason, n in counts)
    return [f"{total} suggestion{'s' if total != 1 else ''} left out: {reasons}."]


def render_summary(
    result: ReviewResult,
    *,
    policy: Policy | None = None,
    not_inline: Sequence[RejectedComment] = (),
    already_posted: int = 0,
    coverage: Coverage | None = None,
) -> str:
    """The MR summary note. `not_inline`: comments the forge refused to place on their line."""
    out = [SUMMARY_MARKER, "### Revisor review", "", *summary_lines(coverage)]
    if result.partial:
        out += [
            f"> **Warning: partial review.** {result.chunks_failed} of {result.chunks_total} "
            "parts of the diff could not be reviewed because the model's answer was not usable "
            "(after one retry). Findings below cover only the other parts. Request a new review "
            "with `/revisor review`.",
            "",
        ]
    counts = Counter(f.severity for f in result.findings)
    if result.findings:
        by_severity = ", ".join(
            f"{counts[s]} {s.label}" for s in sorted(Severity, reverse=True) if counts[s]
        )
        out.append(f"**Findings:** {len(result.findings)} ({by_severity})")
    else:
        out.append("**Findings:** none")
    notes: list[str] = []
    if already_posted:
        notes.append(f"{already_posted} already posted earlier")
    if result.dropped_below_severity:
        notes.append(f"{result.dropped_below_severity} below the minimum severity")
    if result.dropped_over_cap:
        notes.append(f"{result.dropped_over_cap} over the comment limit")
    if result.dropped_unanchored:
        notes.append(f"{result.dropped_unanchored} malformed or not on a line of the diff")
    if notes:
        out.append("Not posted: " + "; ".join(notes) + ".")
    out += _suggestions_left_out(result.suggestions_left_out)
    if result.redactions:
        out.append(
            f"Redacted before review: {result.redactions} secret(s) or hidden characters "
            "(the model never saw them)."
        )
    if result.cut_lines:
        out.append(
            f"Cut before review: {result.cut_lines} line(s) too long for the model; the rest of "
            "each such line was not reviewed."
        )
    out.append("")

    if not_inline:
        out.append(f"**Comments that could not be placed on their line ({len(not_inline)})**")
        out.append("")
        for rejected in not_inline:
            comment = rejected.comment
            line = comment.new_line if comment.new_line is not None else comment.old_line
            first = comment.body.split("\n", 1)[0]  # the already-escaped severity + title line
            out.append(f"- {_location(comment.path, line)}: {first}")
        out.append("")

    reviewed = [_code(path) for path in result.reviewed_files]
    out += _path_list(reviewed, "Files reviewed")
    if reviewed:
        out.append("")
    skipped = [f"{_code(s.path)}: {escape_markdown(s.reason)}" for s in result.skipped]
    out += _path_list(skipped, "Files skipped")
    if skipped:
        out.append("")

    if policy is not None and (policy.warnings or policy.ignored_keys):
        out.append("**Repository configuration**")
        out.append("")
        out += [f"- {escape_markdown(w)}" for w in policy.warnings]
        if policy.ignored_keys:
            keys = ", ".join(_code(k) for k in policy.ignored_keys)
            out.append(f"- `.revisor.toml` keys not allowed, ignored: {keys}")
        out.append("")

    usage = result.usage
    seconds = result.duration_ms / 1000
    out.append(
        f"<sub>Model {_code(result.model or 'none')} · prompt {_code(result.prompt_version)} · "
        f"{usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion tokens in "
        f"{usage.requests} request(s) · {seconds:.1f} s</sub>"
    )
    return inert("\n".join(out))
