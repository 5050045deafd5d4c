"""Repository guidance: `.revisor.toml` instructions and [[path_instructions]] (review.policy),
and the text the model sees for a chunk (review.guidance)."""

from __future__ import annotations

import json
from pathlib import Path

from revisor import config
from revisor.config import ReviewSettings
from revisor.review.guidance import CUT_MARK, RepoDocs, guidance_for, matching_instructions
from revisor.review.policy import (
    MAX_EXTRA_INSTRUCTIONS,
    MAX_PATH_INSTRUCTION_CHARS,
    MAX_PATH_INSTRUCTIONS,
    MAX_PATTERN_LENGTH,
    PathInstruction,
    Policy,
    build_policy,
)

ADMIN = ReviewSettings(extra_instructions="Admin rule.")


def _tables(entries: list[tuple[str, str]]) -> str:
    return "".join(
        f"[[path_instructions]]\npath = {json.dumps(p)}\ninstructions = {json.dumps(t)}\n"
        for p, t in entries
    )


def test_instructions_is_an_alias_of_extra_instructions() -> None:
    policy = build_policy(ADMIN, 'instructions = "Check SQL."\n')
    assert policy.extra_instructions == "Admin rule.\n\nCheck SQL."
    assert policy.ignored_keys == ()
    assert policy.warnings == ()
    both = build_policy(ReviewSettings(), 'extra_instructions = "A"\ninstructions = "B"\n')
    assert both.extra_instructions == "A\n\nB"
    nested = build_policy(ReviewSettings(), '[review]\ninstructions = "C"\n')
    assert nested.extra_instructions == "C"


def test_instructions_are_capped_together_and_typed() -> None:
    long = "x" * (MAX_EXTRA_INSTRUCTIONS - 10)
    policy = build_policy(
        ReviewSettings(), f'extra_instructions = "{long}"\ninstructions = "{long}"\n'
    )
    assert len(policy.extra_instructions) == MAX_EXTRA_INSTRUCTIONS
    assert any("'instructions' cut to" in w for w in policy.warnings)
    typed = build_policy(ReviewSettings(), "instructions = 3\n")
    assert typed.extra_instructions == ""
    assert typed.warnings == (".revisor.toml: 'instructions' must be a string; ignored",)


def test_path_instructions_are_read_in_order_with_their_origin() -> None:
    text = _tables([("src/api/**", "Check permissions."), ("*.sql", "Use bound parameters.")])
    policy = build_policy(ADMIN, text)
    assert policy.path_instructions == (
        PathInstruction("src/api/**", "Check permissions.", ".revisor.toml"),
        PathInstruction("*.sql", "Use bound parameters.", ".revisor.toml"),
    )
    assert policy.warnings == ()
    assert policy.ignored_keys == ()


def test_the_administrator_sets_path_instructions_in_revisor_toml(tmp_path: Path) -> None:
    (tmp_path / "revisor.toml").write_text(
        '[review]\n[[review.path_instructions]]\npath = "migrations/**"\n'
        'instructions = "Migrations are append-only."\n'
    )
    settings = config.load(tmp_path, environ={})
    policy = build_policy(settings.review, _tables([("web/**", "Escape output.")]))
    assert [(p.path, p.origin) for p in policy.path_instructions] == [
        ("migrations/**", "revisor.toml"),
        ("web/**", ".revisor.toml"),
    ]


def test_path_instructions_over_a_cap_are_warned_about_never_raised() -> None:
    many = _tables([(f"d{i}/**", f"rule {i}") for i in range(MAX_PATH_INSTRUCTIONS + 3)])
    policy = build_policy(ReviewSettings(), many)
    assert len(policy.path_instructions) == MAX_PATH_INSTRUCTIONS
    assert policy.path_instructions[-1].path == f"d{MAX_PATH_INSTRUCTIONS - 1}/**"
    assert any("over the limit of 50" in w for w in policy.warnings)

    bad = _tables(
        [
            ("a" * (MAX_PATTERN_LENGTH + 1), "too long a glob"),
            ("ok/**", "y" * (MAX_PATH_INSTRUCTION_CHARS + 100)),
            ("", "no glob"),
            ("x/**", "   "),
        ]
    )
    bad += '[[path_instructions]]\npath = 3\ninstructions = "z"\n'
    bad += '[[path_instructions]]\npath = "k/**"\ninstructions = "k"\nmodel = "evil"\n'
    policy = build_policy(ReviewSettings(), bad)
    assert [p.path for p in policy.path_instructions] == ["ok/**", "k/**"]
    assert len(policy.path_instructions[0].instructions) == MAX_PATH_INSTRUCTION_CHARS
    warnings = "\n".join(policy.warnings)
    assert f"over the limit of {MAX_PATTERN_LENGTH}" in warnings
    assert f"instructions cut to {MAX_PATH_INSTRUCTION_CHARS}" in warnings
    assert warnings.count("needs a 'path' glob and an 'instructions' text") == 3
    assert "keys 'model' ignored" in warnings
    wrong = build_policy(ReviewSettings(), 'path_instructions = "src/**"\n')
    assert wrong.path_instructions == ()
    assert any("must be tables" in w for w in wrong.warnings)


def test_a_path_glob_is_matched_by_the_linear_time_matcher() -> None:
    """`*a*a*...b` is exponential for a backtracking matcher on a long path of a's (hours for
    this one; the test would hit pytest's timeout): this checks the answer, not the time."""
    glob = "*a" * 40 + "*b"
    policy = build_policy(ReviewSettings(), _tables([(glob, "rule")]))
    assert len(policy.path_instructions) == 1
    assert matching_instructions(policy, ["a" * 250 + "c"]) == ()
    assert matching_instructions(policy, ["a" * 250 + "b"]) == policy.path_instructions


def _policy() -> Policy:
    return Policy(
        extra_instructions="Prefer small functions.",
        path_instructions=(
            PathInstruction("src/api/**", "Check permissions.", ".revisor.toml"),
            PathInstruction("*.sql", "Bound parameters only.", "revisor.toml"),
        ),
    )


DOCS = RepoDocs(
    (
        ("CONTRIBUTING.md", "Run make test."),
        ("AGENTS.md", "Reviewers: money is integer cents."),
    )
)


def test_guidance_is_labelled_and_ordered_instructions_paths_then_docs() -> None:
    text = guidance_for(_policy(), DOCS, ["src/api/users.py", "README.md"], max_chars=10_000)
    assert text == (
        "--- review instructions (revisor.toml, .revisor.toml) ---\nPrefer small functions.\n\n"
        "--- instructions for files matching 'src/api/**' (.revisor.toml) ---\n"
        "Check permissions.\n\n"
        "--- AGENTS.md (target branch) ---\nReviewers: money is integer cents.\n\n"
        "--- CONTRIBUTING.md (target branch) ---\nRun make test."
    )
    other = guidance_for(_policy(), RepoDocs(), ["db/q.sql"], max_chars=10_000)
    assert "'*.sql' (revisor.toml) ---\nBound parameters only." in other
    assert "src/api" not in other
    assert guidance_for(Policy(), RepoDocs(), ["a.py"], max_chars=10_000) == ""


def test_the_budget_cuts_docs_first_and_keeps_agents_over_contributing() -> None:
    docs = RepoDocs((("CONTRIBUTING.md", "c" * 5000), ("AGENTS.md", "a" * 5000)))
    full = guidance_for(_policy(), docs, ["src/api/x.py"], max_chars=100_000)
    head = full.split("\n\n--- AGENTS.md")[0]
    for budget in (len(head) + 700, len(head) + 6000, len(head) + 50):
        text = guidance_for(_policy(), docs, ["src/api/x.py"], max_chars=budget)
        assert len(text) <= budget
        assert text.startswith(head)  # instructions whole
    short = guidance_for(_policy(), docs, ["src/api/x.py"], max_chars=len(head) + 700)
    assert "AGENTS.md" in short
    assert short.endswith(CUT_MARK)
    assert "CONTRIBUTING.md" not in short
    middle = guidance_for(_policy(), docs, ["src/api/x.py"], max_chars=len(head) + 6000)
    assert "a" * 5000 in middle
    assert "--- CONTRIBUTING.md (target branch) ---\nccc" in middle
    assert middle.endswith(CUT_MARK)
    tiny = guidance_for(_policy(), docs, ["src/api/x.py"], max_chars=len(head) + 50)
    assert tiny == head  # no room worth a document


def test_instructions_alone_over_the_budget_are_cut_too() -> None:
    text = guidance_for(_policy(), DOCS, ["src/api/x.py"], max_chars=40)
    assert len(text) == 40
    assert text.endswith(CUT_MARK)
    assert guidance_for(_policy(), DOCS, ["a"], max_chars=0) == ""
