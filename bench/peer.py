"""Side by side with PR-Agent: the same merge requests, the same strict fake GitLab, the same
local llama.cpp endpoint (through one recording proxy), the same machine, in one run.

PR-Agent (PyPI `pr-agent`) needs Python 3.12: this benchmark creates its own virtual environment
(`bench/.peer-venv`, git-ignored) and pip-installs it there; it is never a Revisor dependency.
Both tools talk to the same `PeerGitLab` (the strict fake plus the read-only endpoints PR-Agent
also calls, answered the way GitLab's API documentation says) and to the same sidecar.

For each tool and merge request: wall time from start to posted review, prompt and completion
tokens (from the sidecar's own `usage`, recorded by the proxy), inline comments posted, positions
the forge rejected, and which changed files reached the model or were reported as skipped.

    .venv/bin/python -m bench.peer [--sizes small,medium]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.fakes.fake_gitlab import FakeGitLab
from tests.fakes.model import FakeFile

from bench._common import (
    GL_TOKEN,
    OUTPUT_CAP,
    SIZES,
    BenchAppliance,
    MRSize,
    RecordingProxy,
    changed_lines,
    generate_files,
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
    tiktoken_offline_check,
)

# --- measuring ------------------------------------------------------------------------------


def inline_comments(gitlab: FakeGitLab, iid: int) -> int:
    return sum(
        1
        for d in gitlab.discussions(PROJECT, iid)
        if any(n.get("position") for n in d.get("notes", []))
    )


def file_coverage(files: list[FakeFile], prompts: list[str], posted_text: str) -> dict[str, Any]:
    """Which changed files reached the model, which were reported as skipped, which neither.

    A file "reached the model" when its path and its first added line are in some prompt.
    """
    reviewed = skipped = silent = 0
    for f in files:
        first_added = next((ln[1:] for ln in f.diff.split("\n") if ln.startswith("+")), f.new_path)
        if any(f.new_path in p and first_added in p for p in prompts):
            reviewed += 1
        elif f.new_path in posted_text:
            skipped += 1
        else:
            silent += 1
    return {
        "files": len(files),
        "files_reviewed": reviewed,
        "files_reported_skipped": skipped,
        "files_silently_dropped": silent,
    }


def posted_text(gitlab: FakeGitLab, iid: int) -> str:
    return "\n".join(n["body"] for n in gitlab.notes(PROJECT, iid)) + "\n".join(
        n["body"] for d in gitlab.discussions(PROJECT, iid) for n in d["notes"]
    )


def run_revisor(
    size: MRSize,
    files: list[FakeFile],
    gitlab: PeerGitLab,
    proxy: RecordingProxy,
    model_id: str,
    api_key: str,
    root: Path,
) -> dict[str, Any]:
    iid = REVISOR_IID + SIZES.index(size)
    mr = gitlab.add_mr_with_contents(iid, files)
    app = BenchAppliance(root, gitlab.url, proxy.url, model_id, api_key)
    label = f"revisor:{size.name}"
    proxy.label = label
    rejected_before = len(gitlab.rejected_positions)
    try:
        job, wall = app.review(iid, mr.versions[0][2])
    finally:
        app.close()
    prompts = _prompts(proxy, label)
    result = job.result or {}
    return {
        "tool": "Revisor",
        "mr": size.name,
        "changed_lines": changed_lines(files),
        "wall_s": round(wall, 1),
        **_tokens(proxy, label),
        "inline_comments": inline_comments(gitlab, iid),
        "other_notes": len(gitlab.notes(PROJECT, iid)),
        "first_note_starts": _first_note(gitlab, iid),
        "rejected_positions": len(gitlab.rejected_positions) - rejected_before,
        **file_coverage(files, prompts, posted_text(gitlab, iid)),
        "outcome": job.state
        if job.state != "done"
        else "done" + (" (partial)" if result.get("partial") else ""),
    }


def run_pr_agent(
    size: MRSize,
    files: list[FakeFile],
    gitlab: PeerGitLab,
    proxy: RecordingProxy,
    model_id: str,
    api_key: str,
    python: Path,
    log_dir: Path,
) -> dict[str, Any]:
    iid = PEER_IID + SIZES.index(size)
    gitlab.add_mr_with_contents(iid, files)
    label = f"pr-agent:{size.name}"
    proxy.label = label
    rejected_before = len(gitlab.rejected_positions)
    unknown_before = len(gitlab.unknown)
    url = f"{gitlab.url}/{PROJECT}/-/merge_requests/{iid}"
    env = peer_env(gitlab.url, proxy.url, model_id, api_key, bundled_tiktoken_dir(python))
    started = time.monotonic()
    r = run_pr_agent_review(python, env, url, log_dir, size.name, timeout=1500)
    wall = time.monotonic() - started
    prompts = _prompts(proxy, label)
    text = _ANSI.sub("", r.stdout + r.stderr)
    errors = [ln for ln in text.splitlines() if "| ERROR" in ln or ln.startswith("Traceback")]
    return {
        "tool": f"PR-Agent {PR_AGENT_VERSION}",
        "mr": size.name,
        "changed_lines": changed_lines(files),
        "wall_s": round(wall, 1),
        **_tokens(proxy, label),
        "inline_comments": inline_comments(gitlab, iid),
        "other_notes": len(gitlab.notes(PROJECT, iid)),
        "first_note_starts": _first_note(gitlab, iid),
        "rejected_positions": len(gitlab.rejected_positions) - rejected_before,
        **file_coverage(files, prompts, posted_text(gitlab, iid)),
        "outcome": f"exit {r.returncode}" + (f", {len(errors)} error lines" if errors else ""),
        "_unknown_endpoints": sorted(set(gitlab.unknown[unknown_before:])),
        "_errors": errors[:5],
    }


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_note(gitlab: FakeGitLab, iid: int) -> str:
    """The start of the first plain note the tool posted (its summary, or its error message)."""
    notes = gitlab.notes(PROJECT, iid)
    return " ".join(str(notes[0]["body"]).split())[:70] if notes else ""


def _tokens(proxy: RecordingProxy, label: str) -> dict[str, Any]:
    t = proxy.totals(label)
    return {
        "model_calls": t["model_calls"],
        "prompt_tokens": t["prompt_tokens"],
        "completion_tokens": t["completion_tokens"],
        "model_s": t["model_seconds"],
        "cut_at_cap": t["cut_at_cap"],
    }


def _prompts(proxy: RecordingProxy, label: str) -> list[str]:
    return [c.prompt for c in proxy.calls if c.label == label]


def run(sizes: tuple[str, ...] = ("small", "medium")) -> dict[str, Any]:
    """Both tools on each size. Default: small and medium (the large MR would push `make bench`
    past its ~20 minute budget on a 2-core machine; run `--sizes small,medium,large` for it)."""
    chosen = [s for s in SIZES if s.name in sizes]
    notes: list[str] = []
    python: Path | None = None
    try:
        python = ensure_peer_venv()
    except Exception as exc:
        notes.append(f"PR-Agent could not be installed: {type(exc).__name__}: {exc}")
    tiktoken = tiktoken_offline_check(python) if python else {}
    rows: list[dict[str, Any]] = []
    gitlab = PeerGitLab(GL_TOKEN)
    gitlab.start()
    log_dir = Path(tempfile.mkdtemp(prefix="revisor-bench-peer-"))
    try:
        with start_sidecar() as sidecar:
            proxy = RecordingProxy(sidecar.base_url)
            proxy.start()
            proxy.label = "warm-up"
            try:
                import httpx

                hello = {"role": "user", "content": "hi"}
                httpx.post(
                    f"{proxy.url}/v1/chat/completions",
                    json={"model": sidecar.model_id, "messages": [hello], "max_tokens": 4},
                    headers={"Authorization": f"Bearer {sidecar.api_key}"},
                    timeout=120,
                )
                for size in chosen:
                    files = generate_files(size.files, size.lines_per_file)
                    with tempfile.TemporaryDirectory(prefix="revisor-bench-peer-") as tmp:
                        rows.append(
                            run_revisor(
                                size,
                                files,
                                gitlab,
                                proxy,
                                sidecar.model_id,
                                sidecar.api_key,
                                Path(tmp),
                            )
                        )
                    if python is not None:
                        rows.append(
                            run_pr_agent(
                                size,
                                files,
                                gitlab,
                                proxy,
                                sidecar.model_id,
                                sidecar.api_key,
                                python,
                                log_dir,
                            )
                        )
            finally:
                proxy.stop()
    finally:
        gitlab.stop()
    unknown = sorted({e for r in rows for e in r.pop("_unknown_endpoints", [])})
    errors = [e for r in rows for e in r.pop("_errors", [])]
    result: dict[str, Any] = {
        "output_cap_tokens": OUTPUT_CAP,
        "side_by_side": rows,
        "tiktoken_offline": tiktoken,
        "endpoints_pr_agent_called_that_the_fake_lacks": [f"{m} {p}" for m, p in unknown],
        "pr_agent_errors": errors[:8],
        "pr_agent_logs": str(log_dir),
        "notes": notes,
    }
    result["ratios"] = _ratios(rows)
    return result


def _ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for size in SIZES:
        rev = next((r for r in rows if r["mr"] == size.name and r["tool"] == "Revisor"), None)
        peer = next((r for r in rows if r["mr"] == size.name and r["tool"] != "Revisor"), None)
        if not rev or not peer:
            continue
        if rev["wall_s"]:
            out[f"{size.name} MR: PR-Agent / Revisor wall time"] = round(
                peer["wall_s"] / rev["wall_s"], 2
            )
        if rev["prompt_tokens"]:
            out[f"{size.name} MR: PR-Agent / Revisor prompt tokens"] = round(
                peer["prompt_tokens"] / rev["prompt_tokens"], 2
            )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium")
    args = parser.parse_args(argv)
    result = run(tuple(args.sizes.split(",")))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
