"""Untrusted repository paths, the private directory and mapping tool paths back."""

from __future__ import annotations

import stat

import pytest

from revisor.analyzers.workspace import open_workspace, refusal


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "../x.py",
        "a/../../x.py",
        "a/./b.py",
        "a//b.py",
        "a\\..\\b.py",
        "a\x00.py",
        "x" * 1025,
    ],
)
def test_hostile_paths_are_refused(path: str) -> None:
    assert refusal(path) != ""


@pytest.mark.parametrize("path", ["a.py", "src/app/main.go", ".github/x.js", "a..b/c.py"])
def test_ordinary_paths_pass(path: str) -> None:
    assert refusal(path) == ""


def test_workspace_is_private_holds_code_only_and_is_removed() -> None:
    ws = open_workspace(
        {
            "pkg/a.py": "x = 1\n",
            "pyproject.toml": "[tool.ruff]\n",
            ".gitignore": "*.py\n",
            "web/b.ts": "let x = 1\n",
        }
    )
    try:
        top = ws.root.parent
        assert stat.S_IMODE(top.stat().st_mode) == 0o700
        assert stat.S_IMODE((ws.root / "pkg" / "a.py").stat().st_mode) == 0o600
        written = sorted(str(p.relative_to(ws.root)) for p in ws.root.rglob("*") if p.is_file())
        assert written == ["pkg/a.py", "web/b.ts"]
        assert ws.repo_path(str(ws.root / "pkg" / "a.py")) == "pkg/a.py"
        assert ws.repo_path("web/b.ts") == "web/b.ts"
        assert ws.repo_path("./web/b.ts") == "web/b.ts"
        assert ws.repo_path("/etc/passwd") is None
        assert ws.repo_path("../outside.py") is None
        assert ws.repo_path("pyproject.toml") is None  # never written
    finally:
        ws.close()
    assert not top.exists()


def test_a_path_that_collides_with_a_file_is_an_error() -> None:
    ws = open_workspace({"a.py": "x = 1\n", "a.py/b.py": "y = 2\n"})
    try:
        assert ws.written == {"a.py"}
        assert ws.errors == ["could not write 'a.py/b.py': FileExistsError"]
    finally:
        ws.close()
