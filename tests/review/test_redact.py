from __future__ import annotations

import pytest

from revisor.domain import Severity
from revisor.review.redact import (
    CREDENTIAL_TITLE,
    UNICODE_TITLE,
    redact_files,
    redact_line,
    redact_text,
)

from .helpers import hunk, modified_file

# Fake credentials shaped like real ones (none of them is live).
SECRETS = {
    "GitLab token": 'GITLAB = "glpat-xxYYzz0123456789AbCdEfGh"',
    "GitHub token": "export GH=ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "AWS access key": "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "Slack token": "slack: xoxb-123456789012-abcdefghijklmnop",
    "JSON Web Token": (
        "auth: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
        ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    ),
    "private key": "-----BEGIN RSA PRIVATE KEY-----",
    "password in URL": "DATABASE_URL=postgres://app:Sup3rS3cretPw@db.internal:5432/app",
    "secret assignment": 'db_password = "h7Qz!kP2v9Lm"',
}


@pytest.mark.parametrize(("kind", "line"), sorted(SECRETS.items()))
def test_each_secret_kind_is_redacted(kind: str, line: str) -> None:
    text, kinds = redact_line(line)
    assert kind in kinds
    assert "[REDACTED" in text
    for token in ("glpat-xx", "ghp_0123", "AKIAIOSF", "xoxb-1234", "dozjgN", "Sup3rS3cret", "h7Qz"):
        assert token not in text


@pytest.mark.parametrize(
    "line",
    [
        "password = request.form['password']",
        "token = get_token()",
        "secret_name = 'MY_SECRET_KEY'",
        "password: ${DB_PASSWORD}",
        'api_key = os.environ["API_KEY"]',
        "if token_count > max_tokens: return",
        'PASSWORD_FIELD = "password"',
        "def check_password(password_hash: str) -> bool:",
        "url = 'https://example.com/api/v1/items'",
        "x = 'eyJ is a common prefix'",
        "total_tokens = prompt_tokens + completion_tokens",
    ],
)
def test_no_false_positive_on_normal_code(line: str) -> None:
    assert redact_line(line) == (line, ())


def test_secret_on_added_line_becomes_a_finding_without_the_secret() -> None:
    file = modified_file(
        "app/config.py",
        [
            hunk(
                10,
                10,
                [
                    (" ", "TOKEN = 'glpat-oldoldoldoldoldoldold1'"),
                    ("-", "KEY = 'AKIAIOSFODNN7EXAMPLE'"),
                    ("+", "KEY = 'AKIAIOSFODNN7EXAMPL2'"),
                ],
            )
        ],
    )
    outcome = redact_files([file])
    texts = [ln.text for ln in outcome.files[0].lines()]
    assert all("AKIA" not in t and "glpat-old" not in t for t in texts)
    assert outcome.redactions == 3  # context, removed and added lines are all redacted
    (finding,) = outcome.findings  # but only the added line is a finding
    assert (finding.path, finding.new_line, finding.old_line) == ("app/config.py", 11, None)
    assert finding.severity is Severity.CRITICAL
    assert finding.title == CREDENTIAL_TITLE
    assert finding.source == "redaction"
    assert "AKIA" not in finding.body
    assert len(finding.fingerprint) == 16


def test_private_key_block_is_redacted_whole_and_reported_once() -> None:
    spec = [("+", "-----BEGIN OPENSSH PRIVATE KEY-----")]
    spec += [("+", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW")] * 3
    spec += [("+", "-----END OPENSSH PRIVATE KEY-----"), ("+", "after = 1")]
    outcome = redact_files([modified_file("id_ed25519", [hunk(0, 1, spec)])])
    texts = [ln.text for ln in outcome.files[0].lines()]
    assert texts == ["[REDACTED private key]"] * 5 + ["after = 1"]
    assert [f.new_line for f in outcome.findings] == [1]


def test_hidden_unicode_is_made_visible_and_flagged() -> None:
    line = 'access_level = "user\u202e \u2066// Check if admin\u2069 \u2066"'
    file = modified_file("auth.js", [hunk(1, 1, [("+", line), ("+", "ok\u200bay = 1")])])
    outcome = redact_files([file])
    texts = [ln.text for ln in outcome.files[0].lines()]
    assert texts[0] == 'access_level = "user[U+202E] [U+2066]// Check if admin[U+2069] [U+2066]"'
    assert texts[1] == "ok[U+200B]ay = 1"
    # Two consecutive lines: one problem, reported once on the first line
    (finding,) = outcome.findings
    assert (finding.new_line, finding.title) == (1, UNICODE_TITLE)
    assert finding.body.startswith("This line and the 1 after it contain invisible")


def test_a_credential_over_consecutive_lines_is_one_finding_and_separate_ones_are_not() -> None:
    spec = [
        ("+", 'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"'),
        ("+", 'AWS_SECRET_ACCESS_KEY = "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"'),
        ("+", "region = 'eu-west-1'"),
        ("+", 'token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"'),
        ("+", "ok\u200bay = 1"),
    ]
    outcome = redact_files([modified_file("cfg.py", [hunk(1, 1, spec)])])
    assert [(f.new_line, f.title) for f in outcome.findings] == [
        (1, CREDENTIAL_TITLE),
        (4, CREDENTIAL_TITLE),
        (5, UNICODE_TITLE),
    ]
    assert outcome.findings[0].body.startswith("This line and the 1 after it contain what looks")
    assert outcome.findings[1].body.startswith("This line contains what looks like a")
    assert "AKIA" not in outcome.findings[0].fingerprint + outcome.findings[0].body


def test_clean_files_are_returned_unchanged() -> None:
    file = modified_file("a.py", [hunk(1, 1, [(" ", "x = 1"), ("+", "y = 2")])])
    outcome = redact_files([file])
    assert outcome.files == (file,)
    assert outcome.findings == ()
    assert outcome.redactions == 0


def test_redact_text_for_mr_descriptions() -> None:
    text = "Deploy with token glpat-xxYYzz0123456789AbCdEfGh\n-----BEGIN PRIVATE KEY-----\nabc\n"
    out, count = redact_text(text)
    assert "glpat-xx" not in out
    assert "abc" not in out
    assert count == 2  # one token, one key block
