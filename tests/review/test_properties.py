"""Property tests: the parsers of untrusted text never crash or hang, they return or refuse."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from revisor.errors import OutputInvalid
from revisor.review.parse import parse_output
from revisor.text.diff import parse_hunks, parse_unified

# Text biased towards diff syntax, so the parser's deeper branches are reached.
_DIFF_ATOMS = st.sampled_from(
    [
        "diff --git a/f b/f\n",
        '"a/\\303\\251" ',
        "--- a/f\n",
        "+++ b/f\n",
        "--- /dev/null\n",
        "+++ /dev/null\n",
        "@@ -1,2 +1,2 @@\n",
        "@@ -1 +1 @@ x\n",
        "@@ -0,0 +1,3 @@\n",
        " ctx\n",
        "-old\n",
        "+new\n",
        "\\ No newline at end of file\n",
        "new file mode 100644\n",
        "rename from x\n",
        "rename to y\n",
        "Binary files a/f and b/f differ\n",
        "GIT binary patch\n",
        "\n",
        "\r\n",
    ]
)
diff_like = st.lists(st.one_of(_DIFF_ATOMS, st.text(max_size=20)), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), diff_like))
def test_parse_unified_returns_or_raises_value_error(text: str) -> None:
    try:
        files = parse_unified(text)
    except ValueError:
        return
    for f in files:
        for line in f.lines():
            assert line.old_line is not None or line.new_line is not None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), diff_like))
def test_parse_hunks_returns_or_raises_value_error(text: str) -> None:
    try:
        parse_hunks(text)
    except ValueError:
        return


# --- the model-output parser ---

_JSON_ATOMS = st.sampled_from(
    [
        '{"findings": [',
        '{"path": "a.py", "line": 3, "severity": "minor", "title": "t"}',
        '{"path": ',
        "]}",
        "}",
        "]",
        ",",
        "```json\n",
        "```",
        '"',
        "'",
        "\\",
        "null",
        "True",
        "{",
        "[",
        " prose ",
    ]
)
json_like = st.lists(st.one_of(_JSON_ATOMS, st.text(max_size=10)), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=400), json_like))
def test_parse_output_returns_or_raises_output_invalid(text: str) -> None:
    try:
        outcome = parse_output(text)
    except OutputInvalid:
        return
    for finding in outcome.findings:
        assert finding.path
        assert finding.title
        assert finding.line >= 1
        assert finding.side in ("new", "old")


def test_parse_output_survives_deep_nesting() -> None:
    for text in ("[" * 100_000, "{" * 50_000 + "}" * 50_000, "[" * 5000 + "'a'" + "]" * 5000):
        with contextlib.suppress(OutputInvalid):
            parse_output(text)
