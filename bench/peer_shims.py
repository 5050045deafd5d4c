"""PR-Agent's side of `bench/peer.py`: the fake GitLab with the read-only endpoints PR-Agent also
calls (answered as GitLab's API documentation says), and the air-gap shims of its environment:
its own Python 3.12 virtual environment, the bundled tiktoken encodings, a dead proxy for any
outbound request. None of this is a Revisor dependency.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tests.fakes.fake_gitlab import FakeGitLab, FakeMR
from tests.fakes.model import FakeFile
from tests.fakes.server import Request, Response, json_response

from bench._common import (
    GL_TOKEN,
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


def run_pr_agent_review(
    python: Path, env: dict[str, str], pr_url: str, log_dir: Path, name: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """`pr_agent.cli review` on one merge request, run in `log_dir`; its output is kept in
    `log_dir/pr-agent-<name>.log`. `subprocess.TimeoutExpired` past `timeout`."""
    r = subprocess.run(
        [str(python), "-m", "pr_agent.cli", f"--pr_url={pr_url}", "review"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=log_dir,
    )
    (log_dir / f"pr-agent-{name}.log").write_text(r.stdout + "\n--- stderr ---\n" + r.stderr)
    return r
