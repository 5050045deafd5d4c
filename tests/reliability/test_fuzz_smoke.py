"""The fuzz harness (`bench/fuzz.py`): its seeds and regression inputs pass the checks, a finding
is recorded once with its input, and a few seconds of real atheris fuzzing per target find
nothing (skipped when atheris, from the `bench` extra, is not installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench import fuzz


@pytest.mark.parametrize("target", fuzz.TARGETS)
def test_seeds_and_regression_inputs_pass_the_checks(target: str) -> None:
    inputs = fuzz.seeds(target)
    assert len(inputs) >= 5
    for data in inputs:
        fuzz.CHECKS[target](data)  # raises on anything but the documented errors


def test_an_undocumented_exception_is_recorded_once_with_its_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(data: bytes) -> None:
        raise KeyError(data[:3])

    monkeypatch.setitem(fuzz.CHECKS, "diff", broken)
    monkeypatch.setattr(fuzz, "_seen_findings", set())
    run = fuzz._guarded("diff", tmp_path)
    run(b"first input")
    run(b"second input, same site")
    (recorded,) = tmp_path.glob("diff-crash-*.bin")
    assert recorded.read_bytes() == b"first input"
    assert "KeyError" in recorded.with_suffix(".txt").read_text()
    assert capsys.readouterr().out.count(fuzz.FINDING) == 1


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None,
    reason="atheris is not installed (it comes with the `bench` extra)",
)
@pytest.mark.parametrize("target", fuzz.TARGETS)
def test_a_short_fuzz_run_finds_nothing(target: str, tmp_path: Path) -> None:
    result = fuzz.run_target(target, seconds=3, out_dir=tmp_path)
    assert result["findings"] == [], result["findings"]
    assert result["exit_code"] == 0, result.get("error")
    assert result["executions"] > 100
    assert result["coverage_end"] >= result["coverage_start"] > 0
    assert list(tmp_path.iterdir()) == []
