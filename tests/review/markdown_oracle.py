"""An independent judge of posted markdown: what in it would a forge act on?

It parses with markdown-it (CommonMark, HTML on), not with `text.inert`'s own line rules, and
reports every live construct: a link, an image, raw HTML other than Revisor's own few pieces,
text that GitLab or Gitea would turn into a link, mention or reference, and every line outside
fenced code that starts with `/` after whitespace or `>` markers. GitLab's own quick-action
extraction is judged separately by `tests.fakes.quick_actions`.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

_MD = MarkdownIt("commonmark")
_MARKER = r"<!-- revisor:[a-z]+(?:=[0-9a-f]{8,64})? -->"
_OWN_BLOCK = re.compile(rf"{_MARKER}|<details><summary>[A-Za-z0-9 ()]*</summary>|</details>")
_OWN_INLINE = re.compile(rf"{_MARKER}|</?sub>")
# Text the forges resolve: URLs (any scheme), www hosts, e-mail and mentions, issue, merge
# request, epic and snippet numbers, labels and milestones, in any project, GitLab's bracketed
# references and issue keys of an external tracker.
_LIVE_TEXT = re.compile(
    r"www\.|[a-z][a-z0-9+.\-]*://|\b(?:mailto|javascript|data|vbscript):\S"
    r"|@\w|[#!$&]\d|[~%][\w\"*]|\[(?:vulnerability|feature_flag|wiki_page):|\*iteration:"
    r"|(?-i:\b[A-Z][A-Z0-9_]+-\d)",
    re.IGNORECASE,
)
_COMMAND_LINE = re.compile(r"^(?:[^\S\n]|>)*/")


def _inline_problems(children: list[Token]) -> list[str]:
    problems: list[str] = []
    text: list[str] = []
    for child in [*children, Token("end", "", 0)]:
        if child.type in ("text", "softbreak", "hardbreak"):
            text.append(child.content if child.type == "text" else "\n")
            continue
        joined = "".join(text)
        text = []
        problems += [f"live text {m.group(0)!r} in {joined!r}" for m in _LIVE_TEXT.finditer(joined)]
        if child.type in ("link_open", "image"):
            problems.append(f"{child.type} {child.attrs}")
        elif child.type == "html_inline" and not _OWN_INLINE.fullmatch(child.content):
            problems.append(f"raw HTML {child.content!r}")
    return problems


def live_constructs(markdown: str) -> list[str]:
    """Everything in `markdown` a forge would act on; empty when it is inert."""
    markdown = markdown.replace("\r\n", "\n").replace("\r", "\n")  # CommonMark's line ends
    problems: list[str] = []
    fenced: set[int] = set()
    for token in _MD.parse(markdown):
        if token.type == "fence" and token.map:
            fenced.update(range(token.map[0], token.map[1]))
        elif token.type == "html_block" and not _OWN_BLOCK.fullmatch(token.content.strip()):
            problems.append(f"HTML block {token.content!r}")
        elif token.type == "inline":
            problems += _inline_problems(token.children or [])
    for number, line in enumerate(markdown.split("\n")):
        if number not in fenced and _COMMAND_LINE.match(line):
            problems.append(f"line {number} starts a command: {line!r}")
    return problems
