"""Everything Revisor posts is inert: no quick action runs, nothing links, mentions or refers.

Two judges that do not share code with `text.inert`: the port of GitLab's quick-action
extractor in the strict fake (`tests.fakes.quick_actions`), and a CommonMark parser
(`tests.review.markdown_oracle`).
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from revisor.forges.hooks import COMMAND_RE
from revisor.review.render import escape_markdown
from revisor.text.inert import MAX_STATUS, inert, inert_fields, inert_status
from tests.fakes.quick_actions import extract_quick_actions
from tests.review.markdown_oracle import live_constructs


def commands(text: str) -> list[tuple[str, str]]:
    return extract_quick_actions(text)[1]


@pytest.mark.parametrize(
    "text",
    [
        "/approve",
        "LGTM\n/merge",
        "/assign_reviewer @mallory",
        "/APPROVE now",
        "fine\r\n/label ~merged",
        "~~~\n/approve\n~~~",  # not code for GitLab's extractor
        "   ```\n/merge\n```",  # indented fence: not code for it either
        "````suggestion\nx = 1\n```\n/approve\n```\n````",  # ends, for it, at the inner ```
    ],
)
def test_the_fake_runs_what_gitlab_runs_and_inert_text_runs_nothing(text: str) -> None:
    assert commands(text)  # the hostile text does run on GitLab...
    assert commands(inert(text)) == []  # ...and nothing once it is inert
    assert live_constructs(inert(text)) == []


@pytest.mark.parametrize("blanks", [" ", "\t ", " \r"])
def test_a_details_line_with_trailing_blanks_still_ends_its_html_block(blanks: str) -> None:
    """Inside an HTML block code spans are not code: `@alice` would mention (found by fuzzing)."""
    out = inert(f"<details><summary>x</summary>{blanks}\n@alice www.evil.test")
    assert live_constructs(out) == []


def test_command_lines_are_escaped_and_still_read_the_same() -> None:
    assert inert("/approve") == "\\/approve"  # CommonMark shows `/approve`
    assert inert("  > /merge now") == "  > \\/merge now"
    assert inert(">>/close") == ">>\\/close"


def test_fenced_code_is_kept_except_a_command_at_column_0() -> None:
    code = (
        "```python\n# /approve in a comment\n  /merge indented\n// c comment\n/* c */\n"
        "<details><summary>x</summary>\n@alice <b>\n```"
    )
    assert inert(code) == code
    assert inert("~~~\n/approve\n~~~") == "~~~\n /approve\n~~~"


def test_revisors_own_command_never_survives_even_in_code() -> None:
    """A posted comment must not ask Revisor for another review (its webhook reads
    `/revisor review` after whitespace, in code or not)."""
    text = "```sh\n  /revisor review\necho ok\n```\n /revisor review"
    assert COMMAND_RE.search(text)
    out = inert(text)
    assert not COMMAND_RE.search(out)
    assert out == "```sh\n```\n\\/revisor review\n```\necho ok\n```\n \\/revisor review"
    assert inert(out) == out


def test_an_unclosed_fence_is_closed() -> None:
    out = inert("look:\n```\ncode\n<!-- revisor:fp=0123456789abcdef -->")
    assert out.endswith("\n```")
    assert inert("~~~~ x\ncode") == "~~~~ x\ncode\n~~~~"


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        ("@alice", "`@alice`"),
        ("#12", "`#12`"),
        ("!12", "`!12`"),
        ("~bug", "`~bug`"),
        ('~"needs review"', '`~"needs` review"'),
        ("%v1.0", "`%v1.0`"),
        ("%*8.6", "`%*8.6`"),  # a group milestone
        ("&12", "`&12`"),
        ("$34", "`$34`"),
        ("group/project#12", "`group/project#12`"),
        ("group/sub/project!3", "`group/sub/project!3`"),
        ("group/project@0a1b2c3d", "`group/project@0a1b2c3d`"),
        ("www.evil.test", "`www.evil.test`"),
        ("a.b@evil.test", "`a.b@evil.test`"),
        ("https://evil.test/x", "`https://evil.test/x`"),
        ("mailto:a@b.test", "`mailto:a@b.test`"),
        ("foo/http://evil.test", "foo/`http://evil.test`"),
        ("[vulnerability:12]", "`[vulnerability:12]`"),
        ("*iteration:7", "`*iteration:7`"),
        ("PROJ-123", "`PROJ-123`"),
        # Escaped punctuation inside a token renders unescaped: still the token.
        ("@\\_", "`@\\_`"),
        ("www\\.evil.test", "`www\\.evil.test`"),
        ("http:\\/\\/evil.test", "`http:\\/\\/evil.test`"),
        ("~\\*label", "`~\\*label`"),
    ],
)
def test_references_and_autolinks_are_shown_as_code(token: str, shown: str) -> None:
    assert inert(f"see {token} now") == f"see {shown} now"
    assert live_constructs(inert(f"see {token} now")) == []


def test_raw_html_links_and_images_are_escaped_and_revisors_own_markup_kept() -> None:
    out = inert("<img src=x onerror=alert(1)> [t](http://evil) ![i](y) &#64;alice")
    assert "<img" not in out
    assert live_constructs(out) == []
    own = (
        "<details><summary>Files reviewed (20)</summary>\n\n- a\n\n</details>\n\n"
        "<sub>Revisor (automated review)</sub>\n\n<!-- revisor:fp=0123456789abcdef -->"
    )
    assert inert(own) == own
    assert live_constructs(own) == []


@pytest.mark.parametrize(
    "text",
    [
        "<details>\n@alice",  # an HTML block shows its lines raw: references and all
        "<sub>\n@alice",
        "<!-- revisor:summary --> @alice",
        "> <details><summary>x</summary>\n> @alice",
    ],
)
def test_own_html_that_would_open_a_raw_block_is_escaped(text: str) -> None:
    assert live_constructs(text)
    assert live_constructs(inert(text)) == []


def test_a_details_block_is_ended_before_markdown_follows() -> None:
    out = inert("<details><summary>Files skipped (2)</summary>\n- `a`\n</details>\n#1")
    assert out == ("<details><summary>Files skipped (2)</summary>\n\n- `a`\n</details>\n\n`#1`")


def test_status_description_is_one_inert_line_within_the_limit() -> None:
    status = inert_status("review failed:\n/approve\n@alice " + "x" * 400)
    assert "\n" not in status
    assert len(status) <= MAX_STATUS
    assert "`@alice`" in status
    assert inert_status("/merge") == "\\/merge"
    assert len(inert_status("@a " * 200)) <= MAX_STATUS


def test_inert_fields_reaches_every_body_at_any_depth() -> None:
    payload = {
        "event": "COMMENT",
        "body": "/approve",
        "comments": [{"path": "a/b#1.py", "body": "@alice", "new_position": 3}],
        "position": {"new_path": "@x.py"},
        "description": "/merge\nnow",
    }
    assert inert_fields(payload) == {
        "event": "COMMENT",
        "body": "\\/approve",
        "comments": [{"path": "a/b#1.py", "body": "`@alice`", "new_position": 3}],
        "position": {"new_path": "@x.py"},  # not text we write: paths stay as they are
        "description": "\\/merge now",
    }
    assert inert_fields(None) is None


# --- properties -----------------------------------------------------------------------------

_ATOMS = st.sampled_from(
    [
        "/approve", "/merge", "/assign_reviewer @x", "/label ~x", "/revisor review", "\n",
        "\n\n", " ", "    ",
        "\t", ">", "> ", ">>>", "`", "``", "```", "````", "~~~", "```suggestion\n", "\\",
        "@alice", "#12", "!12", "~bug", '~"a b"', "%v1", "&12", "$3", "group/proj#1",
        "proj@abc1234", "www.evil.test", "a@b.test", "http://x.y/z", "mailto:a@b", "x.",
        "<img src=x>", "<details>", "<details><summary>x</summary>", "</details>", "<sub>",
        "</sub>", "<!-- revisor:summary -->", "<!--", "-->", "[t](http://x)", "![i](y)",
        "[x]: http://y", "[a][b]", "&", "&#35;", "&#x40;", "&amp;", "&lt;", "\r", "\r\n", "- ",
        "1. ", "*", "_", "<", "]", "(", ")", "#", "!", "'", '"', ":", "/", "ABC-12",
        "[vulnerability:1]", "*iteration:2",
    ]
)  # fmt: skip
hostile_markdown = st.lists(st.one_of(_ATOMS, st.text(max_size=8)), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(hostile_markdown)
@example("`a\n/approve`")
@example("````\n```\n/approve\n```\n````")
@example("\\`@a` x")
def test_inert_output_runs_nothing_links_nothing_and_is_stable(text: str) -> None:
    out = inert(text)
    assert commands(out) == []
    assert live_constructs(out) == []
    assert not COMMAND_RE.search(out)
    assert inert(out) == out


@settings(max_examples=200, deadline=None)
@given(hostile_markdown)
def test_rendered_model_text_is_inert(text: str) -> None:
    out = escape_markdown(text)
    assert commands(out) == []
    assert live_constructs(out) == []
    assert not COMMAND_RE.search(out)


@settings(max_examples=200, deadline=None)
@given(hostile_markdown)
@example("``` " + "@a " * 80 + "`")  # cut to fit, it would open a fence
@example("@\\_")  # `@_` once rendered: found by this test
def test_status_descriptions_are_inert(text: str) -> None:
    out = inert_status(text)
    assert "\n" not in out
    assert len(out) <= MAX_STATUS
    assert commands(out) == []
    assert live_constructs(out) == []
    assert not COMMAND_RE.search(out)


@pytest.mark.parametrize("language", ["plantuml", "Mermaid", "math", "geojson", "suggestion"])
def test_model_fences_lose_languages_the_forge_would_render(language: str) -> None:
    out = escape_markdown(f"```{language}\n!include http://evil.test/x\n```")
    assert out == "```\n!include http://evil.test/x\n```"


def test_model_fences_keep_a_plain_language() -> None:
    assert escape_markdown("~~~python extra <b>\nx = 1\n~~~") == "~~~python\nx = 1\n~~~"
