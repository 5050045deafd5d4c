"""The benchmark harness itself: report assembly, failure isolation, the recording proxy and the
generated merge requests. (Timings are never asserted: they are what bench/ reports.)"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench._common import RecordingProxy, changed_lines, generate_files
from bench.peer import file_coverage
from bench.peer_shims import file_versions

from bench import run as bench_run
from tests.fakes.model import FakeFile, diff_lines
from tests.llm.fake_openai import FakeOpenAI

HUNK = re.compile(r"^@@ -(\d+),(\d+) \+(\d+),(\d+) @@")


@pytest.fixture
def fake_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(bench_run, "BENCH_DIR", tmp_path)
    good = types.ModuleType("bench.good")
    rows = [{"a": 1, "b": "x|y"}]
    good.run = lambda: {"figure": 1.5, "rows": rows}  # type: ignore[attr-defined]
    boom = types.ModuleType("bench.boom")

    def explode() -> dict[str, float]:
        raise RuntimeError("sidecar would not start")

    boom.run = explode  # type: ignore[attr-defined]
    printer = types.ModuleType("bench.printer")
    printer.main = lambda: print("engine overhead: 12 ms")  # type: ignore[attr-defined]
    for name, module in (("good", good), ("boom", boom), ("printer", printer)):
        (tmp_path / f"{name}.py").write_text("# stand-in\n")
        monkeypatch.setitem(sys.modules, f"bench.{name}", module)
    return tmp_path


def test_a_failing_module_is_reported_and_does_not_stop_the_others(fake_modules: Path) -> None:
    results = {name: bench_run.run_module(name) for name in ("boom", "good", "absent")}
    assert results["boom"]["status"] == "error"
    assert "sidecar would not start" in results["boom"]["error"]
    assert "explode" in results["boom"]["traceback"]
    assert results["good"]["status"] == "ok"
    assert results["good"]["result"] == {"figure": 1.5, "rows": [{"a": 1, "b": "x|y"}]}
    assert results["absent"]["status"] == "missing"


def test_a_module_that_only_prints_keeps_its_output(fake_modules: Path) -> None:
    result = bench_run.run_module("printer")
    assert result["status"] == "ok"
    assert result["result"] == {"output": "engine overhead: 12 ms"}


def test_markdown_report_has_machine_ratios_tables_and_errors(fake_modules: Path) -> None:
    modules = {name: bench_run.run_module(name) for name in ("good", "boom")}
    modules["sidecar"] = {
        "status": "ok",
        "seconds": 1.0,
        "result": {"plain_tokens_per_s": 50.0, "json_object_tokens_per_s": 30.0,
                   "serial_wall_s": 10.0, "concurrent_wall_s": 34.0},
    }  # fmt: skip
    report = {
        "run": {"date": "2026-11-22 09:00 UTC", "git_sha": "abc123", "git_dirty": False},
        "machine": {"cores": 2},
        "ratios": bench_run.key_ratios(modules),
        "modules": modules,
    }
    assert report["ratios"]["sidecar: json_object / unconstrained tokens/s"] == 0.6
    assert report["ratios"]["sidecar: concurrent / serial chunk wall time"] == 3.4
    md = bench_run.render_markdown(report)
    assert "commit `abc123`" in md
    assert "| sidecar: json_object / unconstrained tokens/s | 0.6 |" in md
    assert "| 1 | x\\|y |" in md  # a pipe inside a cell does not break the table
    assert "**failed**: `RuntimeError: sidecar would not start`" in md


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(model="m1", api_key="sk-up")
    server.start()
    yield server
    server.stop()


def test_proxy_forwards_caps_output_and_records_usage(upstream: FakeOpenAI) -> None:
    proxy = RecordingProxy(f"{upstream.url}/v1", output_cap=100)
    proxy.start()
    try:
        proxy.label = "tool-a"
        headers = {"Authorization": "Bearer sk-up"}
        msg = [{"role": "user", "content": "review src/app.py please"}]
        for asked in (None, 500, 50):
            body = {"model": "m1", "messages": msg}
            if asked is not None:
                body["max_tokens"] = asked
            r = httpx.post(f"{proxy.url}/v1/chat/completions", json=body, headers=headers)
            assert r.status_code == 200
        proxy.label = "tool-b"
        r = httpx.post(f"{proxy.url}/v1/chat/completions", json={"model": "m1", "messages": msg})
        assert r.status_code == 401  # the upstream still checks the key
    finally:
        proxy.stop()
    assert [b["max_tokens"] for b in upstream.bodies] == [100, 100, 50]
    assert proxy.totals("tool-a") == {
        "model_calls": 3, "prompt_tokens": 126, "completion_tokens": 21,
        "model_seconds": proxy.totals("tool-a")["model_seconds"], "cut_at_cap": 0,
        "failed_calls": 0,
    }  # fmt: skip
    assert proxy.totals("tool-b")["failed_calls"] == 1
    assert "src/app.py" in proxy.calls[0].prompt


def test_generated_merge_requests_have_consistent_hunk_headers() -> None:
    files = generate_files(3, 45)
    assert changed_lines(files) == 3 * 45
    for f in files:
        lines = f.diff.rstrip("\n").split("\n")
        headers = [i for i, line in enumerate(lines) if line.startswith("@@")]
        shift = 0
        for start, end in zip(headers, [*headers[1:], len(lines)], strict=True):
            m = HUNK.match(lines[start])
            assert m is not None
            body = lines[start + 1 : end]
            assert int(m.group(2)) == sum(1 for b in body if b[0] in " -")
            assert int(m.group(4)) == sum(1 for b in body if b[0] in " +")
            assert int(m.group(3)) == int(m.group(1)) + shift
            shift += int(m.group(4)) - int(m.group(2))


def test_file_versions_agree_with_the_diff() -> None:
    (f,) = generate_files(1, 30)
    old, new = file_versions(f.diff)
    old_lines, new_lines = old.split("\n"), new.split("\n")
    for line in f.diff.split("\n"):
        if line.startswith("+"):
            assert line[1:] in new_lines
    for o, n in diff_lines(f.diff):
        if o is not None and n is not None:
            assert old_lines[o - 1] == new_lines[n - 1]


def test_file_coverage_tells_reviewed_reported_and_silent_apart() -> None:
    files = [FakeFile("a.py", "@@ -1,1 +1,2 @@\n x\n+alpha()\n"),
             FakeFile("b.py", "@@ -1,1 +1,2 @@\n x\n+beta()\n"),
             FakeFile("c.py", "@@ -1,1 +1,2 @@\n x\n+gamma()\n")]  # fmt: skip
    prompts = ["=== FILE a.py\n+alpha()", "b.py is mentioned but not its code"]
    coverage = file_coverage(files, prompts, posted_text="Skipped: b.py (too large)")
    assert coverage == {"files": 3, "files_reviewed": 1, "files_reported_skipped": 1,
                        "files_silently_dropped": 1}  # fmt: skip
