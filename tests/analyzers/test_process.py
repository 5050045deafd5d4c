"""The bounded process runner: output cap and timeouts kill the whole group."""

from __future__ import annotations

from pathlib import Path

from revisor.analyzers.process import minimal_env, run_bounded, short_reason


def test_output_over_the_cap_stops_the_tool(tmp_path: Path) -> None:
    out = run_bounded(
        ["/bin/sh", "-c", "yes revisor"],
        cwd=tmp_path,
        env=minimal_env(tmp_path),
        timeout_s=30,
        max_output=100_000,
    )
    assert out.failure == "output over 100000 bytes"
    assert out.returncode is not None  # reaped


def test_a_normal_run_returns_its_output_and_status(tmp_path: Path) -> None:
    out = run_bounded(
        ["/bin/sh", "-c", "echo hello; echo oops >&2; exit 1"],
        cwd=tmp_path,
        env=minimal_env(tmp_path),
        timeout_s=30,
    )
    assert (out.returncode, out.stdout, out.failure) == (1, b"hello\n", "")
    assert short_reason(out.stderr) == "oops"


def test_a_missing_program_is_a_failure_not_an_exception(tmp_path: Path) -> None:
    out = run_bounded([str(tmp_path / "nope")], cwd=tmp_path, env={}, timeout_s=5)
    assert out.failure.startswith("could not start")
