"""Hunks widened to their enclosing definition, from the head revision."""

from __future__ import annotations

import difflib

from hypothesis import given, settings
from hypothesis import strategies as st

from revisor.domain import FileDiff, FileStatus, LineKind
from revisor.review.context import WHOLE_FILE_LINES, enclosing_range, widen
from revisor.text.diff import parse_hunks


def _diff(old: str, new: str, path: str = "app.py") -> FileDiff:
    text = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "a", "b", n=3))
    hunks = parse_hunks(text.split("\n", 2)[2]) if text else ()
    return FileDiff(path, path, FileStatus.MODIFIED, tuple(hunks))


def _changed(file: FileDiff) -> list[tuple[str, int | None, int | None, str]]:
    return [
        (ln.kind.value, ln.old_line, ln.new_line, ln.text)
        for ln in file.lines()
        if ln.kind is not LineKind.CONTEXT
    ]


def _python_module(body_lines: int) -> str:
    """A long module: padding functions, then `target` with a check far above its last line."""
    padding = "".join(f"def pad_{i}():\n    return {i}\n\n\n" for i in range(WHOLE_FILE_LINES))
    body = "".join(f"    step_{i} = {i}\n" for i in range(body_lines))
    return (
        padding
        + "def target(user):\n    if user is None:\n        return 0\n"
        + body
        + "    return user.name\n\n\ndef middle():\n    return 2\n"
        + "\n\ndef after():\n    return 1\n"
    )


def test_a_hunk_grows_to_its_whole_python_function_and_no_further() -> None:
    old = _python_module(12)
    new = old.replace("    return user.name\n", "    return user.name.upper()\n")
    file = _diff(old, new)
    wide = widen(file, new)
    texts = [ln.text for ln in wide.lines()]
    assert "def target(user):" in texts
    assert "    if user is None:" in texts
    assert "def after():" not in texts
    assert "def pad_0():" not in texts
    assert _changed(wide) == _changed(file)  # the change itself is untouched


def test_numbers_of_added_context_lines_match_both_revisions() -> None:
    old = _python_module(12)
    new = old.replace("def target(user):\n", "def target(user):\n    log(user)\n")
    new = new.replace("    return user.name\n", "    return user.name.upper()\n")
    wide = widen(_diff(old, new), new)
    old_lines, new_lines = old.split("\n"), new.split("\n")
    for ln in wide.lines():
        if ln.kind is LineKind.CONTEXT:
            assert ln.old_line is not None
            assert ln.new_line is not None
            assert old_lines[ln.old_line - 1] == ln.text == new_lines[ln.new_line - 1]


def test_a_small_file_is_shown_whole() -> None:
    old = "".join(f"x{i} = {i}\n" for i in range(40))
    new = old.replace("x20 = 20\n", "x20 = 21\n")
    wide = widen(_diff(old, new), new)
    assert [ln.new_line for ln in wide.lines() if ln.new_line][:1] == [1]
    assert max(ln.new_line or 0 for ln in wide.lines()) == 40


def test_brace_languages_end_at_the_closing_brace() -> None:
    lines = [f"func pad{i}() int {{ return {i} }}" for i in range(WHOLE_FILE_LINES)]
    lines += ["func Target(s *Store) error {", "\tif s == nil {", "\t\treturn nil", "\t}"]
    lines += [f"\ts.n{i}++" for i in range(10)] + ["\treturn s.Save()", "}", "", "// x", "// y"]
    lines += ["func After() {}"]
    old = "\n".join(lines) + "\n"
    new = old.replace("\treturn s.Save()", "\t_ = s.Save()\n\treturn nil")
    wide = widen(_diff(old, new, "store.go"), new)
    texts = [ln.text for ln in wide.lines()]
    assert "func Target(s *Store) error {" in texts
    assert "\tif s == nil {" in texts
    assert "func After() {}" not in texts


def test_a_head_that_disagrees_with_the_diff_changes_nothing() -> None:
    old = _python_module(3)
    new = old.replace("    return user.name\n", "    return user.name.upper()\n")
    file = _diff(old, new)
    assert widen(file, new.replace("upper", "lower")) == file
    assert widen(file, None) == file


def test_enclosing_range_without_a_definition_is_a_small_window() -> None:
    lines = [f"x = {i}" for i in range(100)]
    assert enclosing_range(lines, 50, 51, "a.py") == (47, 54)


def test_a_hostile_long_line_is_matched_in_linear_time() -> None:
    """The definition pattern runs on RE2: a line built to make a backtracking engine explode
    is just scanned (this would take minutes with Python's `re`)."""
    evil = "a" + " a" * 50_000 + "(" + "x" * 50_000
    lines = [evil] * 3
    assert enclosing_range(lines, 1, 1, "a.ts") == (0, 2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["def f():", "    x = 1", "    return x", "", "class C:"]),
        min_size=1,
        max_size=60,
    ),
    st.data(),
)
def test_widening_never_changes_or_loses_a_changed_line(
    lines: list[str], data: st.DataObject
) -> None:
    old = "\n".join(lines) + "\n"
    new_lines = list(lines)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(new_lines)))
        if data.draw(st.booleans()) and new_lines:
            del new_lines[min(i, len(new_lines) - 1)]
        else:
            new_lines.insert(i, data.draw(st.sampled_from(["    y = 2", "def g():", "z = 3"])))
    new = "\n".join(new_lines) + "\n"
    file = _diff(old, new)
    wide = widen(file, new)
    assert _changed(wide) == _changed(file)
    keys = [(ln.old_line, ln.new_line) for ln in wide.lines()]
    assert len(keys) == len(set(keys))
