"""The last step before anything is posted to a forge: make the text inert.

GitLab runs quick actions (`/approve`, `/merge`, `/assign_reviewer @x`, ...) found in notes
created through the API, with the bot's permissions. Its extractor
(`Gitlab::QuickActions::Extractor`) deletes every `\\r`, then runs a line that starts, at column
0, with `/` and a command name; it skips only what *it* thinks is code: a block opened by a line
starting with three backticks and closed by the first line that is exactly three backticks,
backtick pairs, `<tag>` ... `</tag>` blocks and `>>>` quotes. That is not CommonMark: it does not
know `~~~` or indented fences, and a fence of four backticks ends, for it, at an inner ```` ``` ````
line. So a line counts as safe here only by the stricter of the two readings:

- outside fenced code (CommonMark's reading), a line whose first character after whitespace and
  `>` quote markers is `/` gets a backslash before the slash (`\\/approve` renders as `/approve`);
- inside fenced code, a line that starts at column 0 with `/` and a letter, digit or `_` (the
  only shape GitLab can run) is indented by one space; `//` and `/*` comments are left alone;
  a `/revisor` line (Revisor's own command, which its webhook accepts after whitespace) is
  taken out of the code block, escaped;
- a fence left open is closed, so it cannot swallow what follows.

GitLab and Gitea also turn text into links and notifications: `@user`, `#12`, `!12`, `~label`,
`%milestone`, `&epic`, `$snippet`, their cross-project forms (`group/project#12`,
`group/project@sha`), e-mail addresses, `www.` hosts and URLs. Outside code, each such token is
wrapped in a code span, which both forges render as plain text. Raw HTML is escaped (`<` becomes
`&lt;`) except the few tags and hidden markers Revisor itself writes; link and image syntax is
broken with a backslash. Code spans are kept as they are. Every function here is idempotent:
text that went through it once comes out of it unchanged.

The forge adapters apply `inert_fields` to every request body they send, so no caller can post
text that skipped this module.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

__all__ = [
    "closes_fence",
    "code_spans",
    "inert",
    "inert_fields",
    "inert_prose",
    "inert_status",
    "is_fenced_command",
    "opens_fence",
]

MAX_STATUS = 255  # what both forges keep of a commit status description

_TICKS = re.compile(r"`+")
# HTML Revisor writes itself and may keep: its hidden markers, `<sub>` and a collapsed list.
# Where one of them could open an HTML block (whose lines the forge shows raw, references and
# all), it is kept only in the one shape Revisor writes (see `_keeps`).
_MARKER = r"<!-- revisor:[a-z]+(?:=[0-9a-f]{8,64})? -->"
_DETAILS = r"<details><summary>[A-Za-z0-9 ()]*</summary>|</details>"
_OWN_HTML = re.compile(f"(?P<marker>{_MARKER})|(?P<details>{_DETAILS})|</?sub>")
_OWN_BLOCK = re.compile(f"(?:{_DETAILS})\\s*$")  # trailing blanks: still the whole line
_CONTAINER_MARKS = " \t>*+-.)0123456789"  # what may come before a block on its line

_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_PROSE_COMMAND = re.compile(r"^((?:[^\S\n]|>)*)/")
_FENCED_COMMAND = re.compile(r"^/\w")
# Revisor's own command (`forges.hooks.COMMAND_RE` allows leading whitespace and knows no code):
# a line of it in fenced code is taken out of the code, so a comment cannot re-trigger Revisor.
_OWN_COMMAND = re.compile(r"^\s*/revisor\b", re.IGNORECASE)

# What the forges autolink or resolve as a reference, each allowed to start only where a run of
# the characters it is made of starts (so matching stays linear): URLs (GitLab links any
# `scheme://` found after a non-scheme character), `www.` hosts, e-mail addresses, mentions and
# references with their cross-project path prefix (`group/project#12`, `group/project@sha`),
# GitLab's bracketed references and external issue keys (`ABC-123`).
# The continuation stops at `&` so an escaped `&lt;` is not swallowed, and leaves out trailing
# punctuation (`@alice,` shows as `@alice`,) and backslashes. Backslashes before a token belong
# to it (the forges resolve references after unescaping, and a backslash left just before a
# code span would escape its opening backtick); so do backslashes inside one (`@\_` renders as
# `@_`, `www\.` as `www.`, `:\/\/` as `://`).
_TAIL = r"(?:[^\s`<>&]*[^\s`<>&.,;:!?'\"\\])?"  # trailing punctuation stays outside
_REFERENCE = re.compile(
    rf"(?<![\\a-z0-9+.\-])[\\a-z0-9+.\-]*:\\*/\\*/{_TAIL}"
    rf"|(?<![\\a-z])\\*(?:mailto|javascript|data|vbscript|file|xmpp|tel):{_TAIL}"
    rf"|(?<![\\\w.+\-/])[\\\w.+\-/]*(?:(?:&amp;|[#!$&])\d|[~%]\\*[\"\w*]|@\\*\w|www\\*\.)"
    rf"{_TAIL}"
    rf"|(?<!\\)\\*(?:&amp;|&)\d{_TAIL}"  # an epic just after a token (tails stop at `&`)
    rf"|(?<!\\)\\*(?:\[(?:vulnerability|feature_flag|wiki_page):|\*iteration:){_TAIL}"
    rf"|(?:(?<![\\\w])|(?<!\\)\\+)_*(?-i:[A-Z][A-Z0-9_]+-\d){_TAIL}",  # an issue key (Jira)
    re.IGNORECASE,
)
# Markup characters outside code: each one not escaped yet gets a backslash.
_UNESCAPED = r"(?<!\\)((?:\\\\)*)"
_BACKTICK = re.compile(_UNESCAPED + "`")
_IMAGE = re.compile(_UNESCAPED + r"!\[")
_LINK_MIDDLE = re.compile(_UNESCAPED + r"\](?=[(:])")  # `[t](u)` and `[ref]: u` definitions
# An entity other than the ones Revisor writes could decode to `#`, `@`, `<`: show it literally.
_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot);)")
_SPACE = re.compile(r"\s+")
_BLANK = re.compile(r"\s*")


def is_fenced_command(line: str) -> bool:
    """Whether a line of fenced code has the shape of a command GitLab (a quick action) or
    Revisor itself would run."""
    return bool(_FENCED_COMMAND.match(line) or _OWN_COMMAND.match(line))


def _code(token: str) -> str:
    return f"`{token}`"  # the token patterns exclude backticks, so one is enough


def _escape(text: str) -> str:
    """Prose without references: no raw HTML or entity, no link or image, no stray backtick."""
    text = _ENTITY.sub("&amp;", text.replace("<", "&lt;"))
    text = _BACKTICK.sub(lambda m: m.group(1) + "\\`", text)
    text = _IMAGE.sub(lambda m: m.group(1) + "!\\[", text)
    return _LINK_MIDDLE.sub(lambda m: m.group(1) + "\\]", text)


def inert_prose(text: str) -> str:
    """One line of prose (no code spans) made inert; every reference shown as code."""
    out: list[str] = []
    pos = 0
    for match in _REFERENCE.finditer(text):
        out.append(_escape(text[pos : match.start()]))
        out.append(_code(match.group(0)))
        pos = match.end()
    out.append(_escape(text[pos:]))
    return _join(out)


def _escaped(line: str, index: int) -> bool:
    """Whether the character at `index` is escaped (an odd run of backslashes before it)."""
    run = 0
    while index - run > 0 and line[index - run - 1] == "\\":
        run += 1
    return run % 2 == 1


def code_spans(line: str) -> list[tuple[int, int]]:
    """The (start, end) of each code span in one line, as CommonMark pairs backtick runs: an
    opening run takes the next run of the same length; backslashes escape only an opening
    backtick. Linear in the number of runs (times a log), whatever the line."""
    runs = [(m.start(), m.end()) for m in _TICKS.finditer(line)]
    by_length: dict[int, list[int]] = {}
    for index, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(index)
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(runs):
        start, end = runs[index]
        start += _escaped(line, start)  # an escaped first backtick is text
        later = by_length.get(end - start, [])
        closer = bisect.bisect_right(later, index)
        if start < end and closer < len(later):
            spans.append((start, runs[later[closer]][1]))
            index = later[closer] + 1
        else:
            index += 1
    return spans


def _keeps(line: str, match: re.Match[str], lead: int) -> bool:
    """Whether a piece of Revisor's HTML found in a prose line stays as it is. `lead`: the
    length of the line's leading container markers."""
    after = not _BLANK.fullmatch(line, match.end())  # text follows on the line
    if match.group("details") is not None:  # a block of its own: the whole line, nothing else
        return match.start() == 0 and not after
    if match.start() > lead:
        return True  # inside a paragraph's text: inline HTML
    # At the start of a block, a marker is a block to the end of its line, and a lone <sub> a
    # block to the next blank line; <sub> followed by text is a paragraph.
    return not after if match.group("marker") is not None else bool(after)


def _segment(line: str, begin: int, end: int, lead: int) -> list[str]:
    """The inert pieces of `line[begin:end]`, text between code spans."""
    out: list[str] = []
    pos = begin
    for match in _OWN_HTML.finditer(line, begin, end):
        if _keeps(line, match, lead):
            out += [inert_prose(line[pos : match.start()]), match.group(0)]
            pos = match.end()
    out.append(inert_prose(line[pos:end]))
    return out


def _prose_line(line: str) -> str:
    """A line outside fenced code: code spans and Revisor's own markup kept, the rest inert, and
    a leading `/` escaped."""
    out: list[str] = []
    pos = 0
    lead = len(line) - len(line.lstrip(_CONTAINER_MARKS))
    for start, end in code_spans(line):
        out += _segment(line, pos, start, lead)
        out.append(line[start:end])  # code spans render literally: keep them readable
        pos = end
    out += _segment(line, pos, len(line), lead)
    return _PROSE_COMMAND.sub(lambda m: f"{m.group(1)}\\/", _join(out), count=1)


def _join(pieces: list[str]) -> str:
    """Concatenate, with a space where two backtick runs would merge into one or a backslash
    would escape the backtick that opens a code span."""
    out: list[str] = []
    for piece in pieces:
        if (
            piece.startswith("`")
            and out
            and (out[-1].endswith("`") or _escaped(out[-1], len(out[-1])))
        ):
            out.append(" ")
        if piece:
            out.append(piece)
    return "".join(out)


def opens_fence(line: str) -> str | None:
    """The fence string a line opens (CommonMark: up to 3 spaces, 3+ backticks or tildes, and
    no backtick in a backtick fence's info string), else None."""
    match = _FENCE.match(line)
    if match is None or (match.group(2)[0] == "`" and "`" in match.group(3)):
        return None
    return match.group(2)


def closes_fence(line: str, fence: str) -> bool:
    match = _FENCE.match(line)
    return bool(
        match
        and match.group(2)[0] == fence[0]
        and len(match.group(2)) >= len(fence)
        and not match.group(3).strip()
    )


def inert(markdown: str) -> str:
    """Markdown that shows the same text and makes the forge do nothing (see module doc)."""
    lines: list[str] = []
    fence: str | None = None
    html_block = False  # the previous line opened (or closed) a <details> block
    for line in markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if html_block and line.strip():
            lines.append("")  # end the HTML block there: what follows is markdown again
        html_block = False
        if fence is None:
            fence = opens_fence(line)
            lines.append(line if fence is not None else _prose_line(line))
            html_block = fence is None and bool(_OWN_BLOCK.match(lines[-1]))
        elif closes_fence(line, fence):
            fence = None
            lines.append(line)
        elif _OWN_COMMAND.match(line):  # out of the code for that line, escaped, and back in
            lines += [fence, _prose_line(line.lstrip()), fence]
        else:
            lines.append(f" {line}" if _FENCED_COMMAND.match(line) else line)
    if fence is not None:
        lines.append(fence)
    return "\n".join(lines)


def inert_status(text: str) -> str:
    """A commit-status description: one line of inert text, at most MAX_STATUS characters."""
    raw = _SPACE.sub(" ", text).strip()
    limit = MAX_STATUS
    while True:  # ends: `limit` drops each turn, and an empty line fits
        line = raw[:limit].rstrip()
        if opens_fence(line):
            line = "\\" + line  # one line of text, not a code block
        out = inert(line)
        if len(out) <= MAX_STATUS:
            return out
        limit -= len(out) - MAX_STATUS  # escaping lengthened it: drop as much from the source


_MARKDOWN_FIELDS = frozenset({"body", "note"})
_PLAIN_FIELDS = frozenset({"description"})


def inert_fields(payload: Any) -> Any:
    """A copy of a request payload whose text fields are inert, at any depth: `body` and `note`
    as markdown, `description` as a status line. Other values are returned unchanged."""
    if isinstance(payload, dict):
        out: dict[Any, Any] = {}
        for key, value in payload.items():
            if isinstance(value, str) and key in _MARKDOWN_FIELDS:
                out[key] = inert(value)
            elif isinstance(value, str) and key in _PLAIN_FIELDS:
                out[key] = inert_status(value)
            else:
                out[key] = inert_fields(value)
        return out
    if isinstance(payload, list | tuple):
        return [inert_fields(item) for item in payload]
    return payload
