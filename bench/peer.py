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
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tests.fakes.fake_gitlab import FakeGitLab, FakeMR
from tests.fakes.model import FakeFile
from tests.fakes.server import Request, Response, json_response

from bench._common import (
    GL_TOKEN,
    OUTPUT_CAP,
    SIZES,
    BenchAppliance,
    MRSize,
    RecordingProxy,
    changed_lines,
    generate_files,
    gitlab_webhook,
    start_sidecar,
)

BENCH_DIR = Path(__file__).resolve().parent
PEER_VENV = BENCH_DIR / ".peer-venv"
PR_AGENT_VERSION = "0.49.0"
PYTHON312 = ("python3.12", "/root/.pyenv/versions/3.12.1/bin/python3.12")
PROJECT = "group/app"
REVISOR_IID, PEER_IID = 100, 200  # the same MR content under two numbers, one per tool
# Any outbound HTTP(S) from PR-Agent goes to this dead loopback proxy: the run is air-gapped.
DEAD_PROXY = "http://127.0.0.1:9"


# --- the fake, with what PR-Agent also reads ------------------------------------------------


def file_versions(diff: str) -> tuple[str, str]:
    """Old and new file contents consistent with a hunks-only diff (filler outside hunks)."""
    old: list[str] = []
    new: list[str] = []
    for line in diff.split("\n"):
        m = re.match(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@", line)
        if m:
            while len(old) < int(m.group(1)) - 1:
                old.append(f"# unchanged line {len(old) + 1}")
            while len(new) < int(m.group(2)) - 1:
                new.append(f"# unchanged line {len(new) + 1}")
            continue
        if not line:
            continue
        tag, text = line[0], line[1:]
        if tag in " -":
            old.append(text)
        if tag in " +":
            new.append(text)
    tail = [f"# unchanged line {i}" for i in range(5)]
    return "\n".join(old + tail) + "\n", "\n".join(new + tail) + "\n"


class PeerGitLab(FakeGitLab):
    """The strict fake GitLab plus read endpoints PR-Agent calls that Revisor does not.

    Shapes follow GitLab's REST API documentation (projects, MR commits, languages, repository
    files as JSON with base64 content, `changes_count` as a string). Writes go through the
    strict parent: a bad inline position is still the real 400.
    """

    def __init__(self, token: str) -> None:
        super().__init__(token=token)
        p = r"/api/v4/projects/(?P<project>[^/]+)"
        mr = p + r"/merge_requests/(?P<iid>\d+)"
        self.unknown: list[tuple[str, str]] = []
        self.route("GET", p, self._get_project)
        self.route("GET", p + "/languages", lambda r: json_response({"Python": 100.0}))
        self.route("GET", mr + "/commits", self._get_commits)
        self.route("GET", p + r"/repository/files/(?P<path>[^/]+)", self._get_file)

    def not_found(self, request: Request) -> Response:
        self.unknown.append((request.method, request.path))
        return super().not_found(request)

    def add_mr_with_contents(self, iid: int, files: list[FakeFile], **attrs: Any) -> FakeMR:
        mr = self.add_merge_request(PROJECT, iid, files, **attrs)
        base, _start, head = mr.versions[0]
        for f in files:
            old, new = file_versions(f.diff)
            self.add_file(PROJECT, base, f.old, old)
            self.add_file(PROJECT, head, f.new_path, new)
            self.add_file(PROJECT, mr.source_branch, f.new_path, new)
            self.add_file(PROJECT, mr.target_branch, f.old, old)
        return mr

    def _get_project(self, request: Request) -> Response:
        project = self._project(request)
        if project is None:
            return json_response({"message": "404 Project Not Found"}, 404)
        return json_response(
            {
                "id": self.projects[project],
                "name": project.rsplit("/", 1)[-1],
                "path": project.rsplit("/", 1)[-1],
                "path_with_namespace": project,
                "default_branch": "main",
                "web_url": f"{self.url}/{project}",
            }
        )

    def _get_mr(self, request: Request) -> Response:
        response = super()._get_mr(request)
        mr = self._mr(request)
        if response.status != 200 or mr is None:
            return response
        data = json.loads(response.body)
        data.update(
            changes_count=str(len(mr.files)),  # a string in GitLab's API ("1000+" when capped)
            source_project_id=self.projects[mr.project],
            target_project_id=self.projects[mr.project],
        )
        return json_response(data)

    def _get_commits(self, request: Request) -> Response:
        mr = self._mr(request)
        if mr is None:
            return json_response({"message": "404 Not found"}, 404)
        head = mr.versions[0][2]
        return json_response(
            [
                {
                    "id": head,
                    "short_id": head[:8],
                    "title": mr.title,
                    "message": mr.title,
                    "author_name": mr.author,
                    "created_at": "2026-11-01T10:00:00.000Z",
                    "web_url": f"{self.url}/{mr.project}/-/commit/{head}",
                }
            ]
        )

    def _get_file(self, request: Request) -> Response:
        project = self._project(request)
        if project is None:
            return json_response({"message": "404 Project Not Found"}, 404)
        ref = request.query.get("ref")
        if not ref:
            return json_response({"message": "400 Bad request - ref is missing"}, 400)
        path = unquote(request.params["path"])
        content = self.files.get((project, ref, path))
        if content is None:
            return json_response({"message": "404 File Not Found"}, 404)
        return json_response(
            {
                "file_name": path.rsplit("/", 1)[-1],
                "file_path": path,
                "size": len(content.encode()),
                "encoding": "base64",
                "content": base64.b64encode(content.encode()).decode(),
                "ref": ref,
                "blob_id": "b" * 40,
                "commit_id": "c" * 40,
                "last_commit_id": "c" * 40,
            }
        )


# --- PR-Agent's environment -----------------------------------------------------------------


def _python312() -> str:
    for candidate in PYTHON312:
        found = shutil.which(candidate) or (candidate if Path(candidate).exists() else None)
        if found:
            probe = subprocess.run(
                [found, "--version"], capture_output=True, text=True, check=False, timeout=30
            )
            if probe.returncode == 0 and "3.12" in probe.stdout:
                return found
    raise RuntimeError(
        "PR-Agent needs Python 3.12; none found (tried: " + ", ".join(PYTHON312) + ")"
    )


def ensure_peer_venv() -> Path:
    """bench/.peer-venv with pr-agent installed (once; pip's cache makes a rebuild quick)."""
    python = PEER_VENV / "bin" / "python"
    marker = PEER_VENV / f".pr-agent-{PR_AGENT_VERSION}"
    if marker.exists():
        return python
    if not python.exists():
        subprocess.run([_python312(), "-m", "venv", str(PEER_VENV)], check=True, timeout=300)
    subprocess.run(
        # The [gitlab] extra brings python-gitlab; without it the GitLab provider cannot load.
        [str(python), "-m", "pip", "install", "--quiet", f"pr-agent[gitlab]=={PR_AGENT_VERSION}"],
        check=True,
        timeout=1200,
    )
    marker.touch()
    return python


def bundled_tiktoken_dir(python: Path) -> str:
    """litellm's own copy of tiktoken's encoding files (o200k_base, cl100k_base, p50k_base)."""
    r = subprocess.run(
        [str(python), "-c", "import importlib.util, os; "
         "print(os.path.join(os.path.dirname(importlib.util.find_spec('litellm').origin), "
         "'litellm_core_utils', 'tokenizers'))"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return r.stdout.strip()


def peer_env(
    gitlab_url: str, model_url: str, model_id: str, api_key: str, tiktoken_dir: str
) -> dict[str, str]:
    """PR-Agent's settings as environment variables (Dynaconf reads SECTION.KEY)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {
        **keep,
        # Air gap: no outbound HTTP except loopback.
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        # litellm fetches its model price map from the internet at import unless told not to.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # The air-gap shim: tiktoken would download o200k_base at first use; point it at the
        # copy litellm already ships (same file, same token counts, no network).
        "TIKTOKEN_CACHE_DIR": tiktoken_dir,
        "CONFIG.GIT_PROVIDER": "gitlab",
        "CONFIG.MODEL": f"openai/{model_id}",
        "CONFIG.FALLBACK_MODELS": "[]",
        "CONFIG.CUSTOM_MODEL_MAX_TOKENS": "8192",
        "CONFIG.MAX_MODEL_TOKENS": "8192",
        "CONFIG.AI_TIMEOUT": "900",
        "CONFIG.PUBLISH_OUTPUT_PROGRESS": "false",
        "CONFIG.TEMPERATURE": "0.1",
        "OPENAI.KEY": api_key,
        "OPENAI.API_BASE": f"{model_url}/v1",
        "GITLAB.URL": gitlab_url,
        "GITLAB.PERSONAL_ACCESS_TOKEN": GL_TOKEN,
        # The like-for-like setting: publish each review finding as an inline comment.
        "PR_REVIEWER.INLINE_KEY_ISSUES": "true",
    }


def tiktoken_offline_check(python: Path) -> dict[str, str]:
    """Does PR-Agent's tokenizer (tiktoken o200k_base) load with no internet?

    tiktoken downloads encodings at first use. litellm ships some encoding files and points
    TIKTOKEN_CACHE_DIR at them when it is imported, so the answer depends on import order.
    """
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HTTPS_PROXY": DEAD_PROXY,
        "HTTP_PROXY": DEAD_PROXY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as empty:
        probes = {
            "tiktoken alone (empty cache)": (
                "import tiktoken; tiktoken.get_encoding('o200k_base')",
                {"TIKTOKEN_CACHE_DIR": empty},
            ),
            "after `import litellm` (PR-Agent's order)": (
                "import litellm, tiktoken; tiktoken.get_encoding('o200k_base')",
                {"TIKTOKEN_CACHE_DIR": empty},
            ),
            "TIKTOKEN_CACHE_DIR = litellm's bundled files (the shim)": (
                "import tiktoken; tiktoken.get_encoding('o200k_base')",
                {"TIKTOKEN_CACHE_DIR": bundled_tiktoken_dir(python)},
            ),
        }
        for name, (code, extra) in probes.items():
            r = subprocess.run(
                [str(python), "-c", code],
                env={**env, **extra},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            last = (r.stderr.strip().splitlines() or [""])[-1]
            out[name] = "ok" if r.returncode == 0 else f"fails: {last[:160]}"
    return out


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
    from litestar.testing import TestClient

    from revisor.web.app import create_app

    iid = REVISOR_IID + SIZES.index(size)
    mr = gitlab.add_mr_with_contents(iid, files)
    app = BenchAppliance(root, gitlab.url, proxy.url, model_id, api_key)
    label = f"revisor:{size.name}"
    proxy.label = label
    rejected_before = len(gitlab.rejected_positions)
    try:
        with TestClient(app=create_app(app.settings)) as client:
            body, headers = gitlab_webhook(iid, mr.versions[0][2])
            started = time.monotonic()
            answer = client.post("/hooks/gitlab", content=body, headers=headers)
            answer.raise_for_status()
            job_id = int(answer.json()["job_id"])
            app.runner()(job_id)
            wall = time.monotonic() - started
        job = app.job(job_id)
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
    r = subprocess.run(
        [str(python), "-m", "pr_agent.cli", f"--pr_url={url}", "review"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
        cwd=log_dir,
    )
    wall = time.monotonic() - started
    (log_dir / f"pr-agent-{size.name}.log").write_text(r.stdout + "\n--- stderr ---\n" + r.stderr)
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
