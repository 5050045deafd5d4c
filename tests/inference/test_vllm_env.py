"""Without the vLLM venv the real-vLLM tests skip on a developer's machine and fail in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inference import vllm_env


def test_a_missing_venv_skips_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVISOR_TEST_VLLM_VENV", str(tmp_path / "none"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make vllm"):
        vllm_env.require_vllm_python()


def test_a_missing_venv_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVISOR_TEST_VLLM_VENV", str(tmp_path / "none"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI runs `make vllm`"):
        vllm_env.require_vllm_python()


def test_a_half_made_venv_counts_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").write_text("")  # no .complete: `make vllm` died
    monkeypatch.setenv("REVISOR_TEST_VLLM_VENV", str(tmp_path / "venv"))
    with pytest.raises(vllm_env.VllmMissing):
        vllm_env.vllm_python()
    (tmp_path / "venv" / ".complete").touch()
    assert vllm_env.vllm_python() == tmp_path / "venv" / "bin" / "python"
