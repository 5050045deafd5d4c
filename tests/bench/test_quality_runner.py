"""The quality runner's model-free parts: registering a given GGUF for the sidecar, seeding a
corpus MR on the strict fake, and the report. (The end-to-end run needs a model: bench/ only.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from bench._common import GL_TOKEN, RecordingProxy, gguf_manifest
from bench.peer_shims import PROJECT, PeerGitLab
from bench.quality.corpus import load_mr
from bench.quality.report import render
from bench.quality.run import ablations, error_lines, isolated, seed
from bench.quality.score import Finding, score_mr

from revisor.inference.manifest import parse_manifest
from tests.bench.test_quality_corpus import write_mr


def test_a_given_gguf_is_registered_with_its_real_hash_and_size(tmp_path: Path) -> None:
    gguf = tmp_path / "Qwen2.5 Coder-0.5B.Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 9)
    model_id, text = gguf_manifest(gguf)
    spec = parse_manifest(text, source="t", base_dir=None)[model_id]
    assert model_id == "bench-qwen2.5-coder-0.5b.q4-k-m"
    assert spec.sha256 == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert (spec.size, spec.engine, spec.resolve()) == (gguf.stat().st_size, "llama.cpp", gguf)


def test_seed_serves_the_diff_and_both_revisions_of_every_file(tmp_path: Path) -> None:
    mr = load_mr(write_mr(tmp_path))
    gitlab = PeerGitLab(GL_TOKEN)
    gitlab.start()
    try:
        fake = seed(gitlab, mr, 7)
        base, _start, head = fake.versions[0]
        auth = {"PRIVATE-TOKEN": GL_TOKEN}
        api = f"{gitlab.url}/api/v4/projects/{PROJECT.replace('/', '%2F')}"
        diffs = httpx.get(f"{api}/merge_requests/7/diffs", headers=auth).json()
        assert [d["new_path"] for d in diffs] == ["app/calc.py"]
        assert diffs[0]["diff"] == mr.files[0].diff
        for ref, side in ((base, mr.base), (head, mr.head)):
            for path in ("app/calc.py", "README.md"):
                raw = httpx.get(
                    f"{api}/repository/files/{path.replace('/', '%2F')}/raw",
                    params={"ref": ref},
                    headers=auth,
                )
                assert raw.text == side[path]
        assert fake.title == "Sum by index"
    finally:
        gitlab.stop()


def test_report_shows_totals_per_mr_kinds_clean_mrs_and_misses(tmp_path: Path) -> None:
    mr = load_mr(write_mr(tmp_path))
    prose = "Wrong.\n\n```suggestion:-0+0\nUse the index instead of the length here.\n```"
    found = score_mr(mr.defects, [Finding("app/calc.py", 3), Finding("app/calc.py", 30, prose)])
    clean = score_mr((), [])
    row = {
        "tool": "Revisor", "mr": mr.id, "languages": "Python", "changed_lines": 4,
        "defects": 1, "found": 1, "findings": 2, "duplicates": 0, "false_positives": 1,
        "rejected_positions": 0, "prose_suggestions": 1, "recall": 1.0, "precision": 0.5,
        "f1": 2 / 3, "prompt_tokens": 900, "completion_tokens": 80, "wall_s": 12.5,
        "outcome": "done",
        "missed": [], "false_positive_at": ["app/calc.py:30"], "errors": ["model said no"],
        "duplicate_at": ["app/calc.py:31"],
    }  # fmt: skip
    clean_row = {**row, "mr": "clean-1", "defects": 0, "found": 0, "findings": 0,
                 "false_positives": 0, "false_positive_at": []}  # fmt: skip
    text = render(
        {
            "model": "m.gguf", "date": "2026-11-30 01:00 UTC", "cpus": 2,
            "output_cap_tokens": 1024, "tolerance_lines": 3, "notes": ["shared machine"],
            "corpus": [{"mr": mr.id, "languages": ["Python"], "changed_lines": 4,
                        "defects": [{}]}, {"mr": "clean-1", "languages": ["Go"],
                        "changed_lines": 2, "defects": []}],
            "rows": [row, clean_row], "scores": {"Revisor": [found, clean]},
        }
    )  # fmt: skip
    assert "2 MR(s), 1 planted defect(s), 1 clean, languages: Go, Python" in text
    assert "> shared machine" in text
    assert "| Revisor | 2 | 1 | 1 | 2 | 0 | 1 | 0 | 1 | 1 | 1.00 | 0.50 | 0.67 |" in text
    assert "| off-by-one | 1 | 1 |" in text
    assert "- Revisor on `clean-1`: 0 finding(s) (right)" in text
    assert "false positives at app/calc.py:30; duplicates at app/calc.py:31" in text
    assert "  - error: `model said no`" in text
    assert "| Revisor | py-sum | Python | 4 | 1 | 1 | 2 | 0 | 1 | 0 | 1 |" in text


def test_pr_agent_error_lines_are_found_without_colour_codes() -> None:
    log = (
        "\x1b[32m2026-11-30 00:27:28.609\x1b[0m | \x1b[33mWARNING \x1b[0m | x:y:1 - parse failed\n"
        "\x1b[32m2026-11-30 00:27:28.611\x1b[0m | \x1b[31m\x1b[1mERROR   \x1b[0m | "
        "\x1b[36mpr_agent.tools.pr_reviewer\x1b[0m:run:502 - Failed to review PR: no mapping\n"
        "Traceback (most recent call last):\n"
    )
    assert error_lines(log) == [
        "Failed to review PR: no mapping",
        "Traceback (most recent call last):",
    ]


def test_a_harness_failure_on_one_mr_becomes_its_row_and_the_run_goes_on(tmp_path: Path) -> None:
    mr = load_mr(write_mr(tmp_path))
    gitlab = PeerGitLab(GL_TOKEN)
    proxy = RecordingProxy("http://127.0.0.1:9/v1")
    proxy.label = "revisor:py-sum"

    def broken() -> tuple[dict[str, object], object]:
        raise RuntimeError("webhook answered 500")

    row, score = isolated("Revisor", mr, 7, gitlab, proxy, broken)  # type: ignore[arg-type]
    assert row["outcome"] == "harness error: RuntimeError: webhook answered 500"
    assert (row["found"], row["defects"], row["findings"]) == (0, 1, 0)
    assert score.missed == ("obo",)


def test_ablations_score_the_same_run_without_verification_and_without_analyzers(
    tmp_path: Path,
) -> None:
    """From one job record: every unconfirmed candidate (model finding or analyzer hit) counts
    as posted when verification is taken away; analyzer findings are taken away when the
    analyzers are."""
    mr = load_mr(write_mr(tmp_path))
    defect = mr.defects[0]
    at = defect.start
    discussions = [
        {"notes": [{"body": "b", "position": {"new_path": defect.path, "new_line": at}}]},
    ]
    result = {
        "findings": [{"path": defect.path, "new_line": at, "source": "ruff"}],
        "unconfirmed": [
            {"path": defect.path, "new_line": at + 40, "source": "model", "title": "far"},
            {"path": defect.path, "new_line": at + 60, "source": "ast-grep", "title": "hit"},
        ],
    }
    scores = ablations(mr, discussions, result)
    with_all = score_mr(mr.defects, [Finding(defect.path, at)])
    no_verify = scores["Revisor without verification"].counts
    no_analyzers = scores["Revisor without analyzers"].counts
    assert (with_all.counts.found, with_all.counts.findings) == (1, 1)
    assert (no_verify.found, no_verify.findings, no_verify.false_positives) == (1, 3, 2)
    assert (no_analyzers.found, no_analyzers.findings) == (0, 0)
