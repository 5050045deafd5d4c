"""The `/revisor review` command in a comment: one line, found in time linear in the comment.

Any MR commenter writes the comment, and the web process reads it while GitLab waits 10 s for
an answer. The time bound is in bench/pathological.py; these tests check answers, against a
line-by-line reference, on random comments and on ones the old pattern was quadratic on.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from revisor.forges.gitea.hooks import classify as classify_gitea
from revisor.forges.gitlab.hooks import classify as classify_gitlab
from revisor.forges.hooks import COMMAND_RE, Ignored, Trigger
from tests import webhook_payloads as wp

_LINE_COMMAND = re.compile(r"/revisor[^\S\n]+review\b", re.IGNORECASE)


def reference(comment: str) -> bool:
    """A line that starts (after blanks) with `/revisor`, blanks, `review` as a whole word."""
    return any(
        _LINE_COMMAND.match(line.lstrip(" \t\r\f\v\x1c\x1d\x1e\x1f\x85\xa0\u2028\u2029"))
        for line in comment.split("\n")
    )


_ATOMS = st.sampled_from(
    ["/revisor", "/REVISOR", "review", "reviews", " ", "\t", "\n", "\r\n", "\u2028", "x", "/"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_ATOMS, max_size=12).map("".join))
def test_command_is_found_on_its_own_line_only(comment: str) -> None:
    assert bool(COMMAND_RE.search(comment)) == reference(comment)


def test_command_split_across_lines_is_not_a_command() -> None:
    assert COMMAND_RE.search("/revisor\nreview") is None
    assert COMMAND_RE.search("please\n  /revisor  review now") is not None


def test_comments_of_blank_lines_are_answered() -> None:
    # 1.8 s for 40,000 newlines with the old pattern, growing with the square of the length.
    blank = "\n" * 500_000
    note = wp.gitlab_note(note=blank)
    assert classify_gitlab("Note Hook", note) == Ignored(
        "group/app", "comment has no /revisor command"
    )
    command = wp.gitlab_note(note=" \n" * 200_000 + "/revisor review")
    assert isinstance(classify_gitlab("Note Hook", command), Trigger)
    comment = wp.gitea_comment(body="\n \t" * 200_000)
    assert classify_gitea("issue_comment", comment) == Ignored(
        "owner/app", "comment has no /revisor command"
    )
