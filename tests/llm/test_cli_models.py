from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from revisor import cli
from revisor.audit import AuditLog
from tests.llm.fake_openai import FakeOpenAI


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(model="qwen", api_key="sk-gpu") as server:
        yield server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def test_model_add_list_remove(
    tmp_path: Path, fake: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    assert run(capsys, "init", "--data-dir", data)[0] == 0
    key_file = tmp_path / "gpu.key"
    key_file.write_text("sk-gpu\n")
    code, out = run(
        capsys, "model", "add", "gpu1", "--url", fake.url, "--model", "qwen",
        "--api-key-file", str(key_file), "--default", "--max-concurrency", "8", "--json",
        "--data-dir", data,
    )  # fmt: skip
    assert code == 0
    added = json.loads(out)
    assert added["health"]["ok"] is True
    assert added["url"] == fake.url + "/v1"
    assert "sk-gpu" not in out

    code, out = run(capsys, "model", "list", "--json", "--data-dir", data)
    assert code == 0
    listed = json.loads(out)
    by_id = {e["id"]: e for e in listed["endpoints"]}
    assert by_id["gpu1"]["default"] is True
    assert by_id["gpu1"]["max_concurrency"] == 8
    assert by_id["gpu1"]["health"] == {"ok": True, "detail": "ok", "models": ["qwen"]}
    assert by_id["local"]["health"]["ok"] is False  # no sidecar running in this test
    models = {m["id"]: m for m in listed["models"]}
    assert models["smollm2-135m-instruct-q4_1"]["present"] is True
    qwen = models["qwen2.5-coder-1.5b-instruct-q4_k_m"]  # a pack's model, not assembled yet
    assert (qwen["present"], qwen["pack"]) == (False, "qwen2.5-coder-1.5b")

    fake.api_key = "rotated"
    code, out = run(capsys, "model", "list", "--data-dir", data)
    assert "not assembled: revisor model fetch-pack qwen2.5-coder-1.5b" in out
    assert "NOT healthy" in out
    assert "refused the API key" in out

    assert run(capsys, "model", "remove", "gpu1", "--data-dir", data)[0] == 0
    assert run(capsys, "model", "remove", "gpu1", "--data-dir", data)[0] == 2
    changes = [r["details"].get("change") for r in AuditLog(Path(data) / "audit.db").records()]
    assert "model_endpoint.added" in changes
    assert "model_endpoint.removed" in changes


def test_model_hash_prints_a_manifest_snippet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"abc")
    code, out = run(capsys, "model", "hash", str(model), "--data-dir", str(tmp_path), "--json")
    assert code == 0
    assert (
        json.loads(out)["sha256"]
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
