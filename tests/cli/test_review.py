"""`revisor review --diff`: findings, clean --json, --fail-on exit codes, incomplete reviews."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from revisor.cli import main
from tests.llm.fake_openai import FakeOpenAI
from tests.worker.conftest import MODEL_KEY, finding, write_config

DIFF = "\n".join(
    [
        "diff --git a/app.py b/app.py",
        "index 1111111..2222222 100644",
        "--- a/app.py",
        "+++ b/app.py",
        "@@ -1,4 +1,6 @@",
        " import subprocess",
        "-def run(cmd):",
        "+def run(cmd, user_input):",
        "+    subprocess.call(user_input, shell=True)",
        "+    return cmd",
        " ",
        " x = 1",
        "",
    ]
)


@pytest.fixture
def model(tmp_path: Path) -> Iterator[tuple[FakeOpenAI, Path]]:
    fake = FakeOpenAI(model="m1", api_key=MODEL_KEY)
    url = fake.start()
    write_config(tmp_path, url)
    (tmp_path / "change.diff").write_text(DIFF)
    yield fake, tmp_path
    fake.stop()


def review(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[int, str, str]:
    code = main(
        ["review", "--diff", str(root / "change.diff"), "--data-dir", str(root / "data"), *extra]
    )
    out, err = capsys.readouterr()
    return code, out, err


def test_findings_and_fail_on(
    model: tuple[FakeOpenAI, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, root = model
    fake.reply = json.dumps({"findings": [finding(3, severity="major")]})
    code, out, _ = review(capsys, root)
    assert code == 0  # default --fail-on critical
    assert "app.py:3: [major] Shell injection" in out
    code, out, _ = review(capsys, root, "--fail-on", "major", "--json")
    assert code == 1
    data = json.loads(out)  # nothing but JSON on stdout
    assert [(f["path"], f["new_line"], f["severity"]) for f in data["findings"]] == [
        ("app.py", 3, "major")
    ]
    assert data["partial"] is False
    assert data["usage"]["prompt_tokens"] == 42


def test_garbage_from_the_model_is_an_incomplete_review(
    model: tuple[FakeOpenAI, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, root = model
    fake.reply = "Sure! Here is my review: the code is great."
    code, out, err = review(capsys, root, "--json")
    assert code == 3
    assert json.loads(out)["partial"] is True
    assert "review incomplete" in err


def test_not_a_diff(model: tuple[FakeOpenAI, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, root = model
    (root / "change.diff").write_text("diff --git a/x b/x\n@@ -1,2 +1,2 @@\n-a\n")
    code, _, err = review(capsys, root)
    assert code == 2
    assert "is not a unified diff" in err
    (root / "change.diff").write_text("")
    code, _, err = review(capsys, root)
    assert code == 2
    assert "empty" in err
