"""`revisor suppressions list|remove`: searchable, removable, every removal audited."""

from __future__ import annotations

import json

import pytest

from revisor.cli import main
from revisor.store import suppressions
from tests.conftest import DataDir


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _suppress(d: DataDir, fp: str, title: str, by: str = "alice") -> None:
    finding = suppressions.Posted(fp, "k" + fp[1:], title, "app.py")
    suppressions.add(d.rt.db, d.gitlab.id, finding, reason="not here", source="command",
                     created_by=by)  # fmt: skip


def test_list_search_and_remove(capsys: pytest.CaptureFixture[str], data_dir: DataDir) -> None:
    _suppress(data_dir, "a" * 16, "Shell injection")
    _suppress(data_dir, "b" * 16, "Unclosed file", by="bob")
    where = ("--data-dir", str(data_dir.settings.data_dir))
    code, out, _ = run(capsys, "suppressions", "list", "--json", *where)
    assert code == 0
    assert [s["title"] for s in json.loads(out)] == ["Unclosed file", "Shell injection"]
    code, out, _ = run(capsys, "suppressions", "list", "--search", "SHELL", *where)
    assert "Shell injection" in out
    assert "Unclosed" not in out
    first = json.loads(run(capsys, "suppressions", "list", "--json", "--search", "bob", *where)[1])
    code, out, _ = run(capsys, "suppressions", "remove", str(first[0]["id"]), *where)
    assert code == 0
    assert "removed suppression" in out
    assert [s.title for s in suppressions.list_all(data_dir.rt.db)] == ["Shell injection"]
    data_dir.rt.close()
    records = [r for r in data_dir.rt.audit.records() if r["event"] == "suppression.removed"]
    assert records[-1]["actor"].startswith("cli:")
    assert records[-1]["details"]["fingerprint"] == "b" * 16


def test_remove_unknown_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], data_dir: DataDir
) -> None:
    code, _, err = run(
        capsys, "suppressions", "remove", "999", "--data-dir", str(data_dir.settings.data_dir)
    )
    assert code == 2
    assert "no suppression 999" in err
