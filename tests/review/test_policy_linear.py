"""Ignore patterns from `.revisor.toml`: matched in linear time, and capped with a clear refusal.

`*a*a*...*ab` against a deep path took the backtracking matcher seconds at eight stars and
minutes beyond (bench/pathological.py). These tests check results, not time: on small inputs
against pathspec's own backtracking matcher, on big ones against a direct description of what
the pattern means.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pathspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revisor.config import ReviewSettings
from revisor.domain import ReviewResult, SkippedFile, Usage
from revisor.review.plan import select_files
from revisor.review.policy import (
    MAX_IGNORE_PATTERNS,
    MAX_PATTERN_LENGTH,
    build_policy,
    ignore_spec,
)
from revisor.review.summary import render_summary

from .helpers import added_file

ADMIN = ReviewSettings(ignore=("docs/**",))


def _toml(patterns: list[str]) -> str:
    quoted = ", ".join(f"'{p}'" for p in patterns)
    return f"ignore = [{quoted}]\n"


def _skipped(paths: list[str], toml: str) -> dict[str, str]:
    policy = build_policy(ADMIN, toml)
    _, skipped = select_files([added_file(p, ["x = 1"]) for p in paths], policy)
    return {s.path: s.reason for s in skipped}


# No `!` (re-include): with one, pathspec's two matchers can differ, and where they do the RE2
# one agrees with `git check-ignore` (`!*` then `*/` ignores `a/a`; the `re` one says no).
_GLOB = st.lists(
    st.sampled_from(["*", "**", "?", "a", "b", "/", "[ab]", "[!a]", "ab"]),
    min_size=1,
    max_size=8,
).map("".join)
_PATH = st.lists(st.sampled_from(["a", "b", "ab", "ba", "aab"]), min_size=1, max_size=6).map(
    "/".join
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_GLOB, min_size=1, max_size=4), st.lists(_PATH, min_size=1, max_size=5))
def test_same_answers_as_the_backtracking_matcher(globs: list[str], paths: list[str]) -> None:
    policy = build_policy(ReviewSettings(), _toml(globs))
    if not policy.ignore:
        return  # every pattern was invalid: nothing to compare
    spec = ignore_spec(policy)
    assert spec is not None
    reference = pathspec.GitIgnoreSpec.from_lines(policy.ignore, backend="simple")
    for path in paths:
        got, want = spec.check_file(path), reference.check_file(path)
        assert got.include == want.include, (policy.ignore, path)
        if got.include:
            # The pattern named in the skip reason does match (when a file pattern and a
            # directory pattern both match, the two matchers may name different ones).
            assert got.index is not None
            named = pathspec.GitIgnoreSpec.from_lines([policy.ignore[got.index]], backend="simple")
            assert named.check_file(path).include, (policy.ignore, path)


def _means(k: int, path: str) -> bool:
    """What `*a` * k + `b` means: some component ends in `ab` and holds at least k `a`s."""
    return any(part.endswith("ab") and part.count("a") >= k for part in path.split("/"))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(0, 500),
    st.text(alphabet="ab", max_size=300),
)
def test_pathological_patterns_on_deep_paths(k: int, depth: int, name: str) -> None:
    pattern = "*a" * k + "b"
    path = "a/" * depth + (name or "a")
    verdict = _skipped([path], _toml([pattern]))
    assert (path in verdict) == _means(k, path)
    if path in verdict:
        assert verdict[path] == f"matches ignore pattern {pattern!r}"


def test_the_classic_exponential_case_is_answered() -> None:
    # 34 s with the backtracking matcher at k=8 on a 61-character name; minutes at k=9.
    pattern = "*a" * 30 + "*b"
    deep = "a/" * 500 + "a" * 500 + "c"
    assert _skipped([deep], _toml([pattern])) == {}
    assert _skipped([deep + "b"], _toml([pattern])) == {
        deep + "b": f"matches ignore pattern {pattern!r}"
    }


def test_a_path_with_a_lone_surrogate_is_matched() -> None:
    # A C-quoted path with invalid UTF-8 in a diff header decodes to a lone surrogate.
    assert _skipped(["gen/\udcff.snap", "src/\udcffa.py"], _toml(["*.snap", "src/?a.py"])) == {
        "gen/\udcff.snap": "matches ignore pattern '*.snap'",
        "src/\udcffa.py": "matches ignore pattern 'src/?a.py'",
    }


def test_compiled_once_per_pattern_list() -> None:
    policy = build_policy(ADMIN, _toml(["*.snap"]))
    assert ignore_spec(policy) is ignore_spec(build_policy(ADMIN, _toml(["*.snap"])))
    assert ignore_spec(build_policy(ReviewSettings(), None)) is None


def test_too_many_patterns_are_refused_whole() -> None:
    patterns = [f"gen{i}/" for i in range(MAX_IGNORE_PATTERNS + 1)]
    policy = build_policy(ADMIN, _toml(patterns))
    assert policy.ignore == ("docs/**",)
    assert policy.warnings == (
        f".revisor.toml: 'ignore' has {MAX_IGNORE_PATTERNS + 1} patterns, over the limit of "
        f"{MAX_IGNORE_PATTERNS}; none of them is applied",
    )


def test_at_the_limit_all_patterns_apply() -> None:
    patterns = [f"gen{i}/" for i in range(MAX_IGNORE_PATTERNS)]
    policy = build_policy(ADMIN, _toml(patterns))
    assert policy.ignore == ("docs/**", *patterns)
    assert policy.warnings == ()


def test_a_too_long_pattern_refuses_the_whole_list() -> None:
    long = "a" * (MAX_PATTERN_LENGTH + 1)
    policy = build_policy(ADMIN, _toml(["*.snap", long, "gen/"]))
    assert policy.ignore == ("docs/**",)
    assert policy.warnings == (
        f".revisor.toml: ignore pattern number 2 is {MAX_PATTERN_LENGTH + 1} characters long, "
        f"over the limit of {MAX_PATTERN_LENGTH}; none of the patterns is applied",
    )


def test_patterns_too_big_for_the_matcher_are_refused_with_a_warning() -> None:
    # Within both caps, but together too big for RE2's memory budget.
    patterns = [("*a" * 150)[: MAX_PATTERN_LENGTH - 3] + f"{i:03}" for i in range(100)]
    policy = build_policy(ADMIN, _toml(patterns))
    assert policy.ignore == ("docs/**",)
    (warning,) = policy.warnings
    assert warning.startswith(".revisor.toml: the ignore patterns are too complex")
    assert warning.endswith("none of the 100 patterns is applied")


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")  # pathspec's own `re`
def test_an_invalid_pattern_is_skipped_alone() -> None:
    policy = build_policy(ADMIN, _toml(["*.snap", "[[:alpha:]]", "a\\"]))
    assert policy.ignore == ("docs/**", "*.snap")
    assert len(policy.warnings) == 2
    assert all("invalid ignore pattern" in w for w in policy.warnings)


def test_refusals_reach_the_summary() -> None:
    policy = build_policy(ADMIN, _toml([f"g{i}" for i in range(MAX_IGNORE_PATTERNS + 5)]))
    result = ReviewResult(
        findings=(),
        reviewed_files=("a.py",),
        skipped=(SkippedFile("b.bin", "binary file"),),
        model="m",
        prompt_version="p",
        usage=Usage(),
        duration_ms=1,
    )
    summary = render_summary(result, policy=policy)
    assert "**Repository configuration**" in summary
    assert f"over the limit of {MAX_IGNORE_PATTERNS}; none of them is applied" in summary


def test_a_directory_pattern_after_a_reinclude_follows_git(tmp_path: Path) -> None:
    # `git check-ignore` is the reference: a directory excluded by `*/` keeps its files ignored
    # even after `!*`. The backtracking matcher said the opposite.
    patterns = ["!*", "*/"]
    (tmp_path / ".gitignore").write_text("\n".join(patterns) + "\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    git = subprocess.run(
        ["git", "-C", str(tmp_path), "check-ignore", "--no-index", "-q", "a/a"], check=False
    )
    assert git.returncode == 0  # git: ignored
    assert _skipped(["a/a"], _toml(patterns)) == {"a/a": "matches ignore pattern '*/'"}
