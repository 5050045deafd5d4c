"""Redaction on RE2: the same answers as the old `re` detectors, and no input makes it slow.

Time bounds live in bench/pathological.py; these tests check results only, on inputs that
took the old detectors seconds (a 200 KB line of `sk-`) as well as on small random ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revisor.domain import (
    ChatMessage,
    Completion,
    ForgeKind,
    MergeRequest,
    MergeRequestRef,
    RouteHints,
    Usage,
)
from revisor.review import redact
from revisor.review.engine import review_files
from revisor.review.linear import WHITESPACE, LinearRegex, compile_linear
from revisor.review.policy import Policy
from revisor.review.redact import redact_line, redact_text

from . import redact_reference as reference
from .helpers import added_file

# Pieces of every detector's syntax, so random lines come close to (and often reach) a match.
_ATOMS = st.sampled_from(
    [
        "sk-",
        "proj-",
        "T3BlbkFJ",
        "eyJ",
        ".",
        "-",
        "_",
        "glpat-",
        "GR1348941",
        "ghp_",
        "github_pat_",
        "xoxb-",
        "AKIA",
        "A3TX",
        "AIza",
        "sk_live_",
        "https://hooks.slack.com/services/T",
        "/B",
        "ABCDEFGH",
        "0123456789",
        "abcdefghijklmnopqrstuvwxyz",
        "Zq8v",
        "a1B2c3D4e5F6g7H8i9J0",
        "eyJhbGciOiJIUzI1NiJ9",
        "Sup3rS3cretPw",
        "@db",
        "postgres://",
        "app:",
        "@",
        "/",
        "token",
        "password",
        "Secret",
        " = ",
        "=",
        ":",
        ":=",
        "=>",
        '"',
        "'",
        "`",
        " ",
        "\t",
        "${X}",
        "-----BEGIN RSA PRIVATE KEY-----",
        "\u202e",
        "\u200b",
    ]
)
lines = st.lists(_ATOMS, max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(lines)
def test_same_redaction_as_the_backtracking_reference(line: str) -> None:
    assert redact_line(line) == reference.redact_line(line)


_PART = st.one_of(
    st.text(alphabet="aZ09_-", min_size=6, max_size=40),
    st.text(alphabet="aZ09_-.:@/ 'T", max_size=12),
)
_TEMPLATES = st.sampled_from(
    [
        "eyJ{0}.eyJ{1}.{2}",
        "sk-{0}T3BlbkFJ{1}",
        "sk-proj-{0}T3BlbkFJ{1}{2}",
        "{0}://{1}:{2}@",
        "xoxp-{0}{1}",
        "token{0}={1}{2}",
        "https://hooks.slack.com/services/T{0}/B{1}/{2}",
    ]
)


@settings(max_examples=600, deadline=None)
@given(_PART, _TEMPLATES, _PART, _PART, _PART, _PART)
def test_token_shapes_match_the_reference(
    before: str, template: str, a: str, b: str, c: str, after: str
) -> None:
    line = before + template.format(a, b, c) + after
    assert redact_line(line) == reference.redact_line(line)


@settings(max_examples=200, deadline=None)
@given(st.integers(20, 90), st.integers(20, 90), st.sampled_from(["", "proj-"]))
def test_openai_keys_of_any_length_are_redacted(left: int, right: int, proj: str) -> None:
    key = f"sk-{proj}{'a1B_' * left}T3BlbkFJ{'Zz9-' * right}"
    text, kinds = redact_line(f"OPENAI = {key} # prod")
    assert kinds == ("OpenAI key",)
    assert text == "OPENAI = [REDACTED OpenAI key] # prod"


def test_pathological_openai_line_is_left_alone_and_correct() -> None:
    # 7 s per line with the old pattern (quadratic): 66,000 starts, each scanning to the end.
    line = "T3BlbkFJ " + "sk-" * 66_000
    assert redact_line(line) == (line, ())
    key = "sk-" + "A" * 200_000 + "T3BlbkFJ" + "B" * 20
    assert redact_line("k " + key) == ("k [REDACTED OpenAI key]", ("OpenAI key",))


def test_pathological_jwt_lines() -> None:
    line = "eyJ-" * 50_000
    assert redact_line(line) == (line, ())
    # A JWT whose segments are longer than the old bounds (4096 / 8192) is still redacted whole:
    # the old pattern missed the first and left the rest of a long third segment in the clear.
    long_jwt = f"eyJ{'h' * 5000}.eyJ{'p' * 9000}.{'s' * 5000}"
    assert redact_line(f"auth: {long_jwt}") == (
        "auth: [REDACTED JSON Web Token]",
        ("JSON Web Token",),
    )


@pytest.mark.parametrize(
    "unit", ["eyJ-", "xoxb-", "glpat-", "ghp_", "AKIA", "a://b:", 'token="', "key: ", "Secret=x"]
)
def test_long_repetitive_lines_match_the_reference(unit: str) -> None:
    # 200 KB lines on which the old detectors were still fast enough to serve as the reference.
    line = unit * (200_000 // len(unit))
    assert redact_line(line) == reference.redact_line(line)


def test_lone_surrogates_from_json_are_kept_and_do_not_break_matching() -> None:
    # JSON may carry "\\udcff"; RE2 cannot read it as UTF-8, the original text is kept anyway.
    line = 'x = "\udcff" token = "h7Qz!kP2v9Lm" ghp_0123456789abcdefghijABCDEFGHIJ012345 \ud800'
    assert redact_line(line) == reference.redact_line(line)
    assert (
        redact_line(line)[0] == 'x = "\udcff" token = "[REDACTED]" [REDACTED GitHub token] \ud800'
    )


def test_every_detector_runs_on_the_linear_time_engine() -> None:
    patterns = [p for _, p in redact._TOKEN_PATTERNS]
    patterns += [
        redact._URL_CREDENTIAL,
        redact._ASSIGNMENT,
        redact._TOKEN_HINT,
        redact._ASSIGNMENT_HINT,
        redact._HIDDEN,
        redact._KEY_BEGIN,
        redact._KEY_END,
    ]
    assert all(isinstance(p, LinearRegex) for p in patterns)


def test_whitespace_class_is_pythons() -> None:
    space = compile_linear(f"[{WHITESPACE}]")
    for code in range(0x3100):  # every str.isspace() character is below U+3001
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        assert space.fullmatch(char) == char.isspace(), hex(code)


def test_redact_text_cuts_at_whitespace_and_says_so() -> None:
    text = "word " * 10 + "glpat-" + "x" * 30 + " tail " * 1000
    out, count = redact_text(text, max_chars=60 + 64)
    assert (
        out
        == "word " * 9 + "word" + f"\n[Revisor cut this text: {len(text) - 49:,} more characters]"
    )
    assert count == 0
    assert "glpat" not in out


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 120),
    st.integers(1, 200),
    st.sampled_from(
        [
            ("glpat-xxYYzz0123456789AbCdEfGh", "glpat-xxYYzz0123456789AbCdEfGh"),
            (
                "ghp_0123456789abcdefghijABCDEFGHIJ012345",
                "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            ),
            ("postgres://app:Sup3rS3cretPw@db", "Sup3rS3cretPw"),
            ('db_password = "h7Qz!kP2v9Lm"', "h7Qz!kP2v9Lm"),
            ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "OiJIUzI1"),
        ]
    ),
)
def test_a_cut_never_leaves_part_of_a_secret(
    before: int, limit: int, case: tuple[str, str]
) -> None:
    line, secret = case
    text = "a " * before + line + " after" * 5
    out, _ = redact_text(text, max_chars=limit)
    body = out.split("\n[Revisor cut this text")[0]
    assert all(secret[i : i + 6] not in body for i in range(len(secret) - 5))


def test_redact_text_without_a_limit_is_unchanged() -> None:
    text = "x" * 5000 + " glpat-xxYYzz0123456789AbCdEfGh"
    out, count = redact_text(text)
    assert out == "x" * 5000 + " [REDACTED GitLab token]"
    assert count == 1


class _EmptyAnswers:
    """A model that finds nothing and keeps what it was sent."""

    concurrency = 1

    def __init__(self) -> None:
        self.sent: list[str] = []

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        json_mode: bool = True,
        hints: RouteHints | None = None,
    ) -> Completion:
        self.sent.append(messages[1].content)
        return Completion('{"findings": []}', "m", "http://127.0.0.1:1", Usage(1, 1, 1, 1))


def test_review_reads_only_the_part_of_the_mr_text_it_shows() -> None:
    shown = "Fix login. Token glpat-xxYYzz0123456789AbCdEfGh " + "words " * 100
    hidden = " x" * 300_000 + " AKIAIOSFODNN7EXAMPLE"  # 600 KB the model would never see
    ref = MergeRequestRef(ForgeKind.GITLAB, "g/p", 1)
    mr = MergeRequest(ref, "T " * 1000, shown + hidden, "dev", False, (), "b", "main", "", "", "")
    model = _EmptyAnswers()
    result = review_files(
        [added_file("a.py", ["x = 1"])],
        mr=mr,
        policy=Policy(),
        model=model,
        context_tokens=4096,
        max_output_tokens=256,
    )
    assert result.redactions == 1  # the GitLab token shown; the AWS key after the cut is not read
    sent = model.sent[0]
    assert "[REDACTED GitLab token]" in sent
    assert "glpat-" not in sent
    assert "AKIA" not in sent
    assert "more characters]" in sent.split("UNTRUSTED_MR>>>")[0]
