"""run_analyzers end to end with the real ruff and ast-grep, and fenced against bad input."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from revisor.analyzers import run_analyzers
from revisor.domain import Severity

PY = """import subprocess


def run(cmd):
    return subprocess.run(cmd, shell=True)


def add(item, items=[]):
    items.append(item)
    return items
"""

JS = """const { exec } = require('child_process');

function build(branch) {
  exec(`git log ${branch}`, (err, out) => console.log(out));
}
"""


def fake_tool(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(stat.S_IRWXU)
    return str(path)


def workspaces() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("revisor-analyzers-")}


def test_ruff_and_ast_grep_hits_come_back_on_repository_paths_and_lines() -> None:
    before = workspaces()
    report = run_analyzers({"app/tools/run.py": PY, "web/src/git.js": JS, "README.md": "# x\n"})
    assert report.errors == ()
    found = {(h.source, h.rule, h.path, h.line) for h in report.hits}
    assert ("ruff", "S602", "app/tools/run.py", 5) in found
    assert ("ruff", "B006", "app/tools/run.py", 8) in found
    assert ("ast-grep", "js-exec-interpolated", "web/src/git.js", 4) in found
    ruff_s602 = next(h for h in report.hits if h.rule == "S602")
    assert ruff_s602.severity is Severity.CRITICAL
    assert ruff_s602.end_line >= ruff_s602.line
    exec_hit = next(h for h in report.hits if h.rule == "js-exec-interpolated")
    assert exec_hit.severity is Severity.CRITICAL
    assert "execFile" in exec_hit.message
    assert "branch" not in exec_hit.message  # the rule's words, not the file's code
    assert workspaces() == before  # the private directory is gone


def test_noise_rules_stay_off() -> None:
    """assert (S101) and random (S311) are normal code, not review findings."""
    src = "import random\n\n\ndef f(x):\n    assert x\n    return random.choice(x)\n"
    report = run_analyzers({"m.py": src})
    assert report.hits == ()
    assert report.errors == ()


def test_repository_ruff_config_does_not_change_what_runs() -> None:
    sources = {
        "pyproject.toml": '[tool.ruff.lint]\nselect = ["E"]\nignore = ["S", "B"]\n',
        "ruff.toml": '[lint]\nignore = ["ALL"]\nexclude = ["*.py"]\n',
        "pkg/ruff.toml": 'extend-exclude = ["run.py"]\n',
        "pkg/run.py": PY,
    }
    report = run_analyzers(sources)
    assert {h.rule for h in report.hits} >= {"S602", "B006"}
    assert "E501" not in {h.rule for h in report.hits}


def test_hostile_paths_are_refused_and_nothing_is_written_outside(tmp_path: Path) -> None:
    target = tmp_path / "escaped.py"
    escape = os.path.relpath(target, tempfile.gettempdir())
    sources = {
        "../x.py": PY,
        "/etc/passwd": "root:x:0:0::/root:/bin/sh\n",
        f"a/../../{escape}": PY,
        "a/./b.py": PY,
        "ok.py": PY,
    }
    report = run_analyzers(sources)
    refused = [e for e in report.errors if e.startswith("refused path")]
    assert len(refused) == 4
    assert not target.exists()
    assert {h.path for h in report.hits} == {"ok.py"}


def test_a_hanging_tool_times_out_and_the_other_still_reports(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    hang = fake_tool(tmp_path, "ruff", f"sleep 60 &\necho $! > {pidfile}\nwait\n")
    report = run_analyzers({"a.py": PY, "b.js": JS}, timeout_s=1.0, binaries={"ruff": hang})
    assert report.errors == ("ruff: timed out after 1 s",)
    assert [h.rule for h in report.hits] == ["js-exec-interpolated"]
    child = int(pidfile.read_text())
    assert not Path(f"/proc/{child}").exists() or "Z" in _state(child)  # killed with its group


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "Z"


def test_bad_output_missing_binary_and_failure_status_are_errors(tmp_path: Path) -> None:
    garbage = fake_tool(tmp_path, "ruff", "echo 'not json'\n")
    failing = fake_tool(tmp_path, "ast-grep", "echo 'config broken' >&2\nexit 3\n")
    report = run_analyzers({"a.py": PY}, binaries={"ruff": garbage, "ast-grep": failing})
    assert report.errors == (
        "ruff: output is not JSON",
        "ast-grep: exit status 3: config broken",
    )
    report = run_analyzers({"a.py": PY}, binaries={"ruff": None, "ast-grep": None})
    assert report.errors == ("ruff: not installed", "ast-grep: not installed")
    assert report.hits == ()


def test_tools_get_a_minimal_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVISOR_SECRET_TOKEN", "s3cr3t")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    dump = tmp_path / "env.txt"
    spy = fake_tool(tmp_path, "ruff", f"env > {dump}\npwd >> {dump}\necho '[]'\n")
    report = run_analyzers({"a.py": PY}, binaries={"ruff": spy, "ast-grep": None})
    assert report.errors == ("ast-grep: not installed",)
    seen = dump.read_text()
    assert "s3cr3t" not in seen
    assert "proxy.invalid" not in seen
    names = {line.split("=", 1)[0] for line in seen.splitlines() if "=" in line}
    assert names <= {
        "PATH",
        "HOME",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "LANG",
        "LC_ALL",
        "NO_COLOR",
        "PWD",
        "SHLVL",
        "_",
    }
    assert "revisor-analyzers-" in seen.splitlines()[-1]  # run in the workspace


def test_nothing_to_analyze_runs_nothing(tmp_path: Path) -> None:
    boom = fake_tool(tmp_path, "ruff", "exit 9\n")
    report = run_analyzers(
        {"docs/a.md": "x", "Makefile": "all:\n"}, binaries={"ruff": boom, "ast-grep": boom}
    )
    assert report == run_analyzers({})
    assert report.errors == ()
    assert report.hits == ()


def test_test_code_is_spared_the_security_rules_but_not_the_bug_rules() -> None:
    go = "package x\n\nfunc f(u string) {\n\tresp, err := http.Get(u)\n\tuse(resp, err)\n}\n"
    py = "import requests\n\n\ndef f(x=[]):\n    return requests.get('http://x')\n"
    report = run_analyzers(
        {"cmd/fetch.go": go, "cmd/fetch_test.go": go, "app/api.py": py, "tests/test_api.py": py}
    )
    found = {(h.path, h.rule) for h in report.hits}
    assert found == {
        ("cmd/fetch.go", "go-http-default-client"),
        ("app/api.py", "S113"),
        ("app/api.py", "B006"),
        ("tests/test_api.py", "B006"),
    }


def test_oversized_files_are_skipped_and_named() -> None:
    big = "x = 1\n" * 400_000  # 2.4 MB: generated code, not review material
    report = run_analyzers({"gen/big.py": big, "ok.py": PY})
    assert report.errors == ("skipped 'gen/big.py': over 2 MiB",)
    assert {h.path for h in report.hits} == {"ok.py"}


def test_undecodable_text_is_an_error_not_an_exception() -> None:
    report = run_analyzers({"bad.py": "x = '\ud800'\n", "raw.py": "y = '\udcff'\n"})
    assert report.errors == ("skipped 'bad.py': text that is not encodable",)
