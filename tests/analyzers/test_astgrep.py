"""ast-grep's command line and the parsing of its JSON stream."""

from __future__ import annotations

import json
from pathlib import Path

from revisor.analyzers import astgrep
from revisor.analyzers.workspace import open_workspace
from revisor.domain import Severity


def _item(file: str, line: int, **extra: object) -> dict[str, object]:
    return {
        "file": file,
        "ruleId": "go-x",
        "severity": "warning",
        "message": "The risk,\n  and the fix.",
        "range": {"start": {"line": line, "column": 0}, "end": {"line": line + 2, "column": 1}},
        **extra,
    }


def test_the_command_uses_our_pack_and_no_ignore_files() -> None:
    argv = astgrep.command("ast-grep", Path("/w"))
    assert argv[argv.index("--config") + 1] == str(astgrep.pack_config())
    assert astgrep.pack_config().is_file()
    assert argv.count("--no-ignore") == 6
    assert "--json=stream" in argv
    assert argv[-1] == "/w"


def test_parse_counts_lines_from_one_and_takes_our_severity() -> None:
    ws = open_workspace({"cmd/main.go": "package main\n"})
    try:
        lines = [
            _item(str(ws.root / "cmd" / "main.go"), 0, metadata={"severity": "critical"}),
            _item("cmd/main.go", 4),
            _item("vendor/x.go", 1),
        ]
        stream = "\n".join(json.dumps(i) for i in lines).encode() + b"\n"
        hits, errors = astgrep.parse(stream, ws)
        assert [(h.path, h.line, h.end_line, h.severity) for h in hits] == [
            ("cmd/main.go", 1, 3, Severity.CRITICAL),
            ("cmd/main.go", 5, 7, Severity.MINOR),  # no metadata: ast-grep's level
        ]
        assert hits[0].message == "The risk, and the fix."
        assert errors == ["ast-grep: 1 hits on paths outside the workspace"]
        assert astgrep.parse(b"{not json\n", ws) == ([], ["ast-grep: output is not JSON"])
        assert astgrep.parse(b'{"file": "x"}\n', ws) == ([], ["ast-grep: unexpected JSON shape"])
    finally:
        ws.close()
