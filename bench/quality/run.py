"""The quality benchmark: Revisor (and PR-Agent 0.49 with --peer) end to end on every corpus MR,
with one local GGUF model, scored against the planted defects.

Per MR and tool, from webhook to posted review on the strict fake GitLab (`PeerGitLab`: the
strict parent plus the read endpoints PR-Agent also calls; both tools see the same server and
the same repository files at the MR's base and head), through one recording proxy in front of
the real llama.cpp sidecar serving the given GGUF: recall, precision, F1, duplicates, false
positives, rejected positions, prompt/completion tokens and wall time.

    .venv/bin/python -m bench.quality --model PATH.gguf [--mrs id,...] [--peer]

Writes bench/results/quality-<model>-<date>.md (and a .json beside it, git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from tests.fakes.fake_gitlab import FakeMR

from bench._common import (
    GL_TOKEN,
    OUTPUT_CAP,
    BenchAppliance,
    RecordingProxy,
    start_sidecar,
)
from bench.peer_shims import (
    PEER_IID,
    PR_AGENT_VERSION,
    PROJECT,
    REVISOR_IID,
    PeerGitLab,
    bundled_tiktoken_dir,
    ensure_peer_venv,
    peer_env,
    run_pr_agent_review,
)
from bench.quality.corpus import CORPUS_DIR, CorpusMR, load_corpus
from bench.quality.report import render
from bench.quality.score import TOLERANCE, MRScore, findings_from_discussions, score_mr, total
from bench.quality.score import Finding as ScoredFinding

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"
PEER_TIMEOUT_S = 1500
ABLATIONS = "_ablations"  # row key: scores of the same run without one stage (not in the JSON)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def seed(gitlab: PeerGitLab, mr: CorpusMR, iid: int) -> FakeMR:
    """The MR on the fake, with every corpus file readable at its base and head revisions."""
    fake = gitlab.add_merge_request(
        PROJECT, iid, list(mr.files), title=mr.title, description=mr.description
    )
    base, _start, head = fake.versions[0]
    for path, content in mr.base.items():
        gitlab.add_file(PROJECT, base, path, content)
        gitlab.add_file(PROJECT, fake.target_branch, path, content)
    for path, content in mr.head.items():
        gitlab.add_file(PROJECT, head, path, content)
        gitlab.add_file(PROJECT, fake.source_branch, path, content)
    return fake


def measure(
    tool: str,
    mr: CorpusMR,
    iid: int,
    gitlab: PeerGitLab,
    proxy: RecordingProxy,
    label: str,
    wall: float,
    rejected_before: int,
    outcome: str,
) -> tuple[dict[str, Any], MRScore]:
    """One row of the report: the score of what `tool` posted on `iid`, and what it cost."""
    seeded = (PROJECT, iid) in gitlab.mrs  # not when the harness failed before seeding
    findings = findings_from_discussions(gitlab.discussions(PROJECT, iid) if seeded else [])
    score = score_mr(mr.defects, findings)
    tokens = proxy.totals(label)
    c = score.counts
    row = {
        "tool": tool,
        "mr": mr.id,
        "languages": "/".join(mr.languages),
        "changed_lines": mr.changed_lines,
        "defects": c.defects,
        "found": c.found,
        "findings": c.findings,
        "duplicates": c.duplicates,
        "false_positives": c.false_positives,
        "explained": c.explained,
        "suggestions": c.suggestions,
        "prose_suggestions": c.prose_suggestions,
        "rejected_positions": len(gitlab.rejected_positions) - rejected_before,
        "recall": c.recall,
        "precision": c.precision,
        "f1": c.f1,
        "model_calls": tokens["model_calls"],
        "prompt_tokens": tokens["prompt_tokens"],
        "completion_tokens": tokens["completion_tokens"],
        "cut_at_cap": tokens["cut_at_cap"],
        "wall_s": round(wall, 1),
        "outcome": outcome,
        "missed": list(score.missed),
        "false_positive_at": [
            f"{findings[i].path}:{findings[i].line}" for i in score.false_positive_findings
        ],
        "duplicate_at": [
            f"{findings[i].path}:{findings[i].line}" for i in score.duplicate_findings
        ],
        "posted": [f"{f.path}:{f.line} {f.body.splitlines()[0][:100]}" for f in findings if f.body],
    }
    return row, score


def run_revisor(
    mr: CorpusMR,
    iid: int,
    gitlab: PeerGitLab,
    proxy: RecordingProxy,
    sidecar: Any,
    root: Path,
    extra_toml: str = "",
) -> tuple[dict[str, Any], MRScore]:
    fake = seed(gitlab, mr, iid)
    app = BenchAppliance(
        root, gitlab.url, proxy.url, sidecar.model_id, sidecar.api_key, extra_toml=extra_toml
    )
    label = proxy.label = f"revisor:{mr.id}"
    rejected_before = len(gitlab.rejected_positions)
    try:
        job, wall = app.review(iid, fake.versions[0][2])
    finally:
        app.close()
    result = job.result or {}
    outcome = job.state + (" (partial)" if result.get("partial") else "")
    row, score = measure("Revisor", mr, iid, gitlab, proxy, label, wall, rejected_before, outcome)
    row["moved"] = result.get("moved", 0)
    row["dropped_unanchored"] = result.get("dropped_unanchored", 0)
    row["unconfirmed"] = len(result.get("unconfirmed") or [])
    row["unconfirmed_at"] = [
        f"{f.get('path')}:{f.get('new_line')} [{f.get('source')}] {str(f.get('title'))[:80]}"
        for f in result.get("unconfirmed") or []
    ]
    row[ABLATIONS] = ablations(mr, gitlab.discussions(PROJECT, iid), result)
    return row, score


def ablations(
    mr: CorpusMR, discussions: list[dict[str, Any]], result: dict[str, Any]
) -> dict[str, MRScore]:
    """Scores of what this same run would have posted without one stage, from the job's
    record: without the verification pass (every candidate it did not confirm, model finding or
    analyzer hit, posted too), and without the analyzers (their confirmed findings left out; a
    model finding an analyzer agreed with stays, the model found it alone)."""
    posted = findings_from_discussions(discussions)
    unconfirmed = [
        ScoredFinding(str(f.get("path", "")), f.get("new_line"), str(f.get("title", "")))
        for f in result.get("unconfirmed") or []
    ]
    from_analyzers = {
        (f.get("path"), f.get("new_line"))
        for f in result.get("findings") or []
        if f.get("source") not in ("model", "redaction", None)
    }
    return {
        "Revisor without verification": score_mr(mr.defects, [*posted, *unconfirmed]),
        "Revisor without analyzers": score_mr(
            mr.defects, [f for f in posted if (f.path, f.line) not in from_analyzers]
        ),
    }


def run_pr_agent(
    mr: CorpusMR,
    iid: int,
    gitlab: PeerGitLab,
    proxy: RecordingProxy,
    sidecar: Any,
    python: Path,
    log_dir: Path,
) -> tuple[dict[str, Any], MRScore]:
    seed(gitlab, mr, iid)
    label = proxy.label = f"pr-agent:{mr.id}"
    rejected_before = len(gitlab.rejected_positions)
    url = f"{gitlab.url}/{PROJECT}/-/merge_requests/{iid}"
    env = peer_env(
        gitlab.url, proxy.url, sidecar.model_id, sidecar.api_key, bundled_tiktoken_dir(python)
    )
    started = time.monotonic()
    try:
        r = run_pr_agent_review(python, env, url, log_dir, mr.id, timeout=PEER_TIMEOUT_S)
        errors = error_lines(r.stdout + r.stderr)
        outcome = f"exit {r.returncode}" + (f", {len(errors)} error line(s)" if errors else "")
    except subprocess.TimeoutExpired:
        errors, outcome = [], f"timed out after {PEER_TIMEOUT_S} s"
    wall = time.monotonic() - started
    tool = f"PR-Agent {PR_AGENT_VERSION}"
    row, score = measure(tool, mr, iid, gitlab, proxy, label, wall, rejected_before, outcome)
    return {**row, "errors": errors[:2]}, score


def isolated(
    tool: str,
    mr: CorpusMR,
    iid: int,
    gitlab: PeerGitLab,
    proxy: RecordingProxy,
    one: Callable[[], tuple[dict[str, Any], MRScore]],
) -> tuple[dict[str, Any], MRScore]:
    """One tool on one MR; a harness failure becomes that row's outcome, the run goes on."""
    started, rejected_before = time.monotonic(), len(gitlab.rejected_positions)
    try:
        return one()
    except Exception as exc:  # a benchmark of many MRs reports a broken one and carries on
        wall = time.monotonic() - started
        outcome = f"harness error: {type(exc).__name__}: {str(exc)[:120]}"
        return measure(tool, mr, iid, gitlab, proxy, proxy.label, wall, rejected_before, outcome)


def error_lines(log: str) -> list[str]:
    """PR-Agent's ERROR log lines and tracebacks, colour codes removed, the message only."""
    text = _ANSI.sub("", log)
    found = [ln for ln in text.splitlines() if "| ERROR" in ln or ln.startswith("Traceback")]
    return [ln.rsplit(" - ", 1)[-1][:200] for ln in found]


def run(
    model: Path,
    only: tuple[str, ...] = (),
    peer: bool = False,
    extra_toml: str = "",
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Every selected MR through Revisor (and PR-Agent with `peer`); `extra_toml` is appended to
    each Revisor appliance's revisor.toml (to measure a setting with and without). `progress`
    gets the result so far after each MR (a long run interrupted keeps what it measured)."""
    corpus = load_corpus(CORPUS_DIR, only)
    notes: list[str] = []
    python: Path | None = None
    if peer:
        try:
            python = ensure_peer_venv()
        except Exception as exc:  # the peer is optional: say why it did not run
            notes.append(f"PR-Agent could not be installed: {type(exc).__name__}: {exc}")
    rows: list[dict[str, Any]] = []
    scores: dict[str, list[MRScore]] = {}
    result = {
        "model": model.name,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "output_cap_tokens": OUTPUT_CAP,
        "tolerance_lines": TOLERANCE,
        "corpus": [
            {
                "mr": mr.id,
                "languages": list(mr.languages),
                "changed_lines": mr.changed_lines,
                "defects": [asdict(d) for d in mr.defects],
            }
            for mr in corpus
        ],
        "rows": rows,
        "scores": scores,
        "notes": notes,
    }
    gitlab = PeerGitLab(GL_TOKEN)
    gitlab.start()
    log_dir = Path(tempfile.mkdtemp(prefix="revisor-bench-quality-"))
    try:
        with start_sidecar(gguf=model) as sidecar:
            model_sha, model_size = sidecar.spec.sha256, sidecar.spec.size
            proxy = RecordingProxy(sidecar.base_url)
            proxy.start()
            try:
                _warm_up(proxy, sidecar)
                for n, mr in enumerate(corpus):
                    with tempfile.TemporaryDirectory(prefix="revisor-bench-quality-") as tmp:
                        ours = partial(
                            run_revisor,
                            mr,
                            REVISOR_IID + n,
                            gitlab,
                            proxy,
                            sidecar,
                            Path(tmp),
                            extra_toml,
                        )
                        done = [isolated("Revisor", mr, REVISOR_IID + n, gitlab, proxy, ours)]
                    if python is not None:
                        peer_run = partial(
                            run_pr_agent, mr, PEER_IID + n, gitlab, proxy, sidecar, python, log_dir
                        )
                        peer_tool = f"PR-Agent {PR_AGENT_VERSION}"
                        done.append(isolated(peer_tool, mr, PEER_IID + n, gitlab, proxy, peer_run))
                    for row, score in done:
                        for name, other in row.pop(ABLATIONS, {}).items():
                            scores.setdefault(name, []).append(other)
                        rows.append(row)
                        scores.setdefault(row["tool"], []).append(score)
                        print(f"quality {row['tool']} {mr.id}: {_brief(row)}", flush=True)
                    if progress is not None:
                        progress(result)
            finally:
                proxy.stop()
    finally:
        gitlab.stop()
    if python is not None:
        notes.append(f"PR-Agent logs: {log_dir}")
    notes.append(f"Model file: {model.name}, {model_size} bytes, sha256 {model_sha}")
    return result


def _warm_up(proxy: RecordingProxy, sidecar: Any) -> None:
    """One tiny request (model pages, caches), recorded under its own label and not reported."""
    proxy.label = "warm-up"
    httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json={"model": sidecar.model_id, "messages": [{"role": "user", "content": "hi"}],
              "max_tokens": 4},
        headers={"Authorization": f"Bearer {sidecar.api_key}"},
        timeout=300,
    )  # fmt: skip


def _brief(row: dict[str, Any]) -> str:
    keys = ("found", "defects", "findings", "duplicates", "rejected_positions", "wall_s")
    return ", ".join(f"{k}={row[k]}" for k in keys) + f", {row['outcome']}"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="a GGUF file")
    parser.add_argument("--mrs", default="", help="comma-separated corpus MR ids (default: all)")
    parser.add_argument("--peer", action="store_true", help="also run PR-Agent 0.49")
    parser.add_argument("--note", action="append", default=[], help="a line for the report")
    parser.add_argument(
        "--revisor-config",
        type=Path,
        help="TOML appended to Revisor's revisor.toml for this run (a setting to measure)",
    )
    parser.add_argument(
        "--max-changed", type=int, help="only MRs with at most this many changed lines"
    )
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"--model {args.model}: no such file")
    if args.tag and not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", args.tag):
        parser.error("--tag: 1-40 letters, digits, dots, dashes or underscores")
    only = tuple(m for m in args.mrs.split(",") if m)
    if args.max_changed is not None:
        selected = load_corpus(CORPUS_DIR, only)
        only = tuple(m.id for m in selected if m.changed_lines <= args.max_changed)
        if not only:
            parser.error(f"no corpus MR has at most {args.max_changed} changed lines")
    extra = args.revisor_config.read_text(encoding="utf-8") if args.revisor_config else ""
    notes = list(args.note)
    if extra:
        notes.append(f"Revisor config added: `{' '.join(extra.split())[:300]}`")

    def save(result: dict[str, Any]) -> Path:
        shown = {**result, "notes": notes + result["notes"]}
        tag = f"-{args.tag}" if args.tag else ""
        out = RESULTS_DIR / f"quality-{Path(result['model']).stem}-{result['date'][:10]}{tag}.md"
        out.write_text(render(shown))
        totals = {tool: asdict(total(s)[0]) for tool, s in result["scores"].items()}
        saved = {k: v for k, v in shown.items() if k != "scores"} | {"totals": totals}
        out.with_suffix(".json").write_text(json.dumps(saved, indent=2, default=str))
        return out

    out = save(run(args.model, only, args.peer, extra, progress=save))
    print(f"wrote {out}")
    return out
