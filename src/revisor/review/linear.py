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

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pathspec
import re2

__all__ = ["WHITESPACE", "LinearMatch", "LinearRegex", "compile_globs", "compile_linear"]

# Python's `\s` on str (what the patterns were written against), spelled out for RE2, whose `\s`
# is only [\t\n\f\r ].
WHITESPACE = (
    r"\t\n\x{0B}\f\r\x{1C}-\x{1F} \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}"
    r"\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
)


@dataclass(frozen=True)
class LinearMatch:
    """One match: the text of a group by name or number, and the span of the whole match."""

    _match: Any
    _names: dict[str, int]

    def group(self, name: str | int = 0) -> str | None:
        value = self._match.group(name)
        return value if isinstance(value, str) else None

    def span(self, name: str | int = 0) -> tuple[int, int]:
        index = self._names[name] if isinstance(name, str) else name
        start, end = self._match.span(index)
        return int(start), int(end)


@dataclass(frozen=True)
class LinearRegex:
    """A compiled RE2 pattern with the small part of the `re.Pattern` API that Revisor uses."""

    pattern: str
    _regex: Any = field(repr=False, compare=False)
    _groups: dict[str, int] = field(repr=False, compare=False, default_factory=dict)

    def search(self, text: str) -> LinearMatch | None:
        found = self._regex.search(text)
        return None if found is None else LinearMatch(found, self._names())

    def finditer(self, text: str) -> Iterator[LinearMatch]:
        names = self._names()
        for found in self._regex.finditer(text):
            yield LinearMatch(found, names)

    def fullmatch(self, text: str) -> bool:
        return self._regex.fullmatch(text) is not None

    def sub(self, repl: str | Callable[[LinearMatch], str], text: str) -> str:
        """Replace every match; a str `repl` is used as it is (no backslash templates)."""
        names = self._names()
        if isinstance(repl, str):
            fixed = repl
            return str(self._regex.sub(lambda _m: fixed, text))
        return str(self._regex.sub(lambda m: repl(LinearMatch(m, names)), text))

    def _names(self) -> dict[str, int]:
        return self._groups


def compile_linear(pattern: str) -> LinearRegex:
    """Compile `pattern` with RE2; raises `ValueError` for what RE2 cannot run in linear time."""
    options = re2.Options()
    options.log_errors = False  # an invalid pattern is an exception here, not a line on stderr
    try:
        regex = re2.compile(pattern, options)
    except re2.error as exc:
        raise ValueError(f"not a linear-time pattern: {exc}") from None
    return LinearRegex(pattern, regex, dict(regex.groupindex))


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
