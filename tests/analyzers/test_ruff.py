"""ruff's command line and the parsing of its JSON."""

from __future__ import annotations

import json
from pathlib import Path

from revisor.analyzers import ruff
from revisor.analyzers.workspace import open_workspace
from revisor.domain import Severity


def test_severity_by_longest_prefix() -> None:
    assert ruff.severity_of("S608") is Severity.CRITICAL
    assert ruff.severity_of("S113") is Severity.MINOR
    assert ruff.severity_of("S501") is Severity.MAJOR
    assert ruff.severity_of("B006") is Severity.MAJOR
    assert ruff.severity_of("DTZ005") is Severity.MINOR
    assert ruff.severity_of("ZZZ999") is Severity.MINOR


def test_the_command_is_isolated_and_uses_our_rules_only() -> None:
    argv = ruff.command("ruff", Path("/w"))
    assert argv[:5] == ["ruff", "check", "--no-cache", "--isolated", "--output-format"]
    assert argv[argv.index("--select") + 1] == ",".join(ruff.SELECT)
    assert "S101" in argv[argv.index("--ignore") + 1].split(",")
    assert "--preview" not in argv
    assert argv[-1] == "/w"


def test_parse_maps_paths_and_skips_syntax_errors() -> None:
    ws = open_workspace({"a/b.py": "x = 1\n"})
    try:
        items = [
            {
                "code": "B006",
                "filename": str(ws.root / "a" / "b.py"),
                "message": "m" * 500,
                "location": {"row": 3, "column": 1},
                "end_location": {"row": 4, "column": 2},
            },
            {
                "code": None,
                "filename": str(ws.root / "a" / "b.py"),
                "message": "SyntaxError",
                "location": {"row": 1, "column": 1},
                "end_location": {"row": 1, "column": 2},
            },
            {
                "code": "B006",
                "filename": "/elsewhere/c.py",
                "message": "m",
                "location": {"row": 1, "column": 1},
                "end_location": {"row": 1, "column": 2},
            },
        ]
        hits, errors = ruff.parse(json.dumps(items).encode(), ws)
        assert [(h.path, h.line, h.end_line, h.rule) for h in hits] == [("a/b.py", 3, 4, "B006")]
        assert len(hits[0].message) == ruff.MAX_MESSAGE_CHARS
        assert errors == ["ruff: 1 hits on paths outside the workspace"]
        assert ruff.parse(b"{}", ws) == ([], ["ruff: output is not a JSON array"])
        assert ruff.parse(b'[{"code": "B006"}]', ws) == ([], ["ruff: unexpected JSON shape"])
    finally:
        ws.close()
