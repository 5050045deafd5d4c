"""Linear-time regular expressions for text that a repository or an MR author controls.

Python's `re` backtracks: a pattern such as `[^/]*a[^/]*a[^/]*b` (what the ignore glob `*a*a*b`
becomes) or `sk-[A-Za-z0-9]{20,}T3BlbkFJ` takes polynomial or exponential time on a crafted
input, and it holds the GIL while it does, so the worker's lease heartbeat starves. RE2 (the
`google-re2` package) runs every pattern as an automaton, in time linear in the input for a
fixed pattern, and refuses the features that cannot be run that way (backreferences,
look-around). Every pattern that scans a whole diff line, an MR text or a path is compiled here.

Two differences from `re` matter to callers: `\\b` and `\\w` are ASCII-only (a non-ASCII letter
is not a word character), and counted repetitions are limited to 1000.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pathspec
import re2

__all__ = [
    "WHITESPACE",
    "LinearMatch",
    "LinearRegex",
    "compile_globs",
    "compile_linear",
    "encodable",
]

# Python's `\s` on str (what the patterns were written against), spelled out for RE2, whose `\s`
# is only [\t\n\f\r ].
WHITESPACE = (
    r"\t\n\x{0B}\f\r\x{1C}-\x{1F} \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}"
    r"\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
)


# RE2 reads UTF-8, and a lone surrogate has no UTF-8 form, yet a forge's JSON can carry one
# ("\\udcff" is valid JSON). Matching runs on a copy where each becomes U+FFFD: one character
# for one, so every offset still points into the original text, which is what callers get back.
_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD (same length, same offsets)."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class LinearMatch:
    """One match: a group's text by name or number, and its span, in the original text."""

    _text: str
    _spans: tuple[tuple[int, int], ...]
    _names: dict[str, int]

    def span(self, name: str | int = 0) -> tuple[int, int]:
        """(-1, -1) for a group that did not take part in the match."""
        return self._spans[self._names[name] if isinstance(name, str) else name]

    def group(self, name: str | int = 0) -> str | None:
        start, end = self.span(name)
        return None if start < 0 else self._text[start:end]


@dataclass(frozen=True)
class LinearRegex:
    """A compiled RE2 pattern with the small part of the `re.Pattern` API that Revisor uses."""

    pattern: str
    _regex: Any = field(repr=False, compare=False)
    _groups: dict[str, int] = field(repr=False, compare=False, default_factory=dict)
    _count: int = 0  # capturing groups

    def search(self, text: str) -> LinearMatch | None:
        return next(self.finditer(text), None)

    def finditer(self, text: str) -> Iterator[LinearMatch]:
        for found in self._regex.finditer(encodable(text)):
            spans = tuple((int(a), int(b)) for a, b in map(found.span, range(self._count + 1)))
            yield LinearMatch(text, spans, self._groups)

    def fullmatch(self, text: str) -> bool:
        return self._regex.fullmatch(encodable(text)) is not None

    def sub(self, repl: str | Callable[[LinearMatch], str], text: str) -> str:
        """Replace every match; a str `repl` is used as it is (no backslash templates)."""
        pieces: list[str] = []
        last = 0
        for match in self.finditer(text):
            start, end = match.span()
            pieces += [text[last:start], repl if isinstance(repl, str) else repl(match)]
            last = end
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)


def compile_linear(pattern: str) -> LinearRegex:
    """Compile `pattern` with RE2; raises `ValueError` for what RE2 cannot run in linear time."""
    options = re2.Options()
    options.log_errors = False  # an invalid pattern is an exception here, not a line on stderr
    try:
        regex = re2.compile(pattern, options)
    except re2.error as exc:
        raise ValueError(f"not a linear-time pattern: {exc}") from None
    return LinearRegex(pattern, regex, dict(regex.groupindex), int(regex.groups))


def compile_globs(patterns: Sequence[str]) -> pathspec.GitIgnoreSpec:
    """Gitignore-style patterns, matched by RE2 (pathspec's `re2` backend), never by `re`.

    pathspec translates `*a*a*b` into `[^/]*a[^/]*a[^/]*b`, which Python's `re` runs in time
    exponential in the number of stars (34 s for eight of them on a 61-character path). The
    backend is named explicitly so a missing `google-re2` is an error, not a silent fallback.
    Raises `ValueError` for a pattern that is not valid or that RE2 cannot hold (too big).
    """
    try:
        return pathspec.GitIgnoreSpec.from_lines(patterns, backend="re2")
    except re2.error as exc:
        raise ValueError(f"too complex for the linear-time matcher ({exc})") from None
    except (TypeError, ValueError) as exc:  # pathspec's GitIgnorePatternError is a ValueError
        raise ValueError(str(exc)) from None
