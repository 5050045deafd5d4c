"""`revisor repo add` refuses a project path that cannot exist on that forge, before storing."""

from __future__ import annotations

from pathlib import Path

import pytest

from revisor.cli import main


def test_repo_add_refuses_a_project_path_of_the_wrong_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "data"
    assert main(["init", "--data-dir", str(d)]) == 0
    (tmp_path / "token").write_text("glpat-cli-0123456789\n")
    assert main(["server", "add", "https://gitlab.test", "--data-dir", str(d)]) == 0
    capsys.readouterr()
    code = main(["repo", "add", "gitlab", "--server", "https://gitlab.test", "--project", "app",
                 "--token-file", str(tmp_path / "token"), "--data-dir", str(d)])  # fmt: skip
    assert code != 0
    assert "has no group" in capsys.readouterr().err
