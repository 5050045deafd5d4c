"""What the end-to-end, scale and peer benchmarks share.

- `start_sidecar()`: the real embedded llama.cpp sidecar with the bundled model;
- `RecordingProxy`: a tiny OpenAI-compatible pass-through in front of the sidecar that records
  every request's token usage and latency under a label (so Revisor and PR-Agent are measured by
  the same meter) and applies one output cap to every client (the same rule for both tools);
- `generate_files()`: deterministic merge requests of a given size for the strict fake GitLab;
- `BenchAppliance`: a data dir + registered repository + web app + in-process worker, like the
  worker tests' `appliance` fixture but pointed at any model endpoint.

Everything listens on 127.0.0.1 only; nothing here reaches outside the machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.fakes.model import FakeFile
from tests.fakes.server import FakeServer, Request, Response, json_response

from revisor import config
from revisor.config import ModelSettings
from revisor.inference.sidecar import Sidecar

MODEL_CONTEXT = 8192
# One output cap for every request through the proxy, Revisor's product default
# (`[model] max_output_tokens`): a 135M model asked for free text can otherwise ramble until the
# context ends, and a fair comparison needs the same ceiling for both tools.
OUTPUT_CAP = 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gguf_manifest(gguf: Path) -> tuple[str, str]:
    """A `models.toml` registering one GGUF file (hashed here, as the sidecar will check)."""
    digest = hashlib.sha256()
    with gguf.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    model_id = "bench-" + re.sub(r"[^a-z0-9.-]+", "-", gguf.stem.lower()).strip("-")
    return model_id, (
        f"[models.{json.dumps(model_id)}]\nfile = {json.dumps(str(gguf.resolve()))}\n"
        f'sha256 = "{digest.hexdigest()}"\nsize = {gguf.stat().st_size}\n'
        f'engine = "llama.cpp"\ncontext = {MODEL_CONTEXT}\n'
    )


@contextlib.contextmanager
def start_sidecar(context: int = MODEL_CONTEXT, gguf: Path | None = None) -> Iterator[Sidecar]:
    """The real llama.cpp sidecar with the bundled model (or `gguf`), in a throwaway data dir."""
    with tempfile.TemporaryDirectory(prefix="revisor-bench-sidecar-") as tmp:
        settings = config.Settings(
            data_dir=Path(tmp),
            model=ModelSettings(sidecar_port=free_port(), sidecar_context=context),
        )
        (settings.keys_dir).mkdir(parents=True, exist_ok=True)
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        model_id = None
        if gguf is not None:
            model_id, manifest = gguf_manifest(gguf)
            (Path(tmp) / "models.toml").write_text(manifest)
        sidecar = Sidecar.from_settings(settings, model_id=model_id)
        sidecar.start()
        try:
            sidecar.wait_healthy(timeout=180)
            yield sidecar
        finally:
            sidecar.stop()


@dataclass
class Call:
    label: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    status: int
    capped: bool  # the proxy lowered (or set) max_tokens to OUTPUT_CAP
    response_format: str
    finish_reason: str
    prompt: str = field(repr=False, default="")  # all message texts, to see which files it saw


class RecordingProxy(FakeServer):
    """POST /v1/chat/completions and GET /v1/models, forwarded to `upstream` (ends in /v1).

    The Authorization header is passed through unchanged: the sidecar still checks the key.
    """

    def __init__(self, upstream: str, *, output_cap: int = OUTPUT_CAP) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.output_cap = output_cap
        self.label = "unlabelled"
        self.calls: list[Call] = []
        self._http = httpx.Client(timeout=900)
        self._calls_lock = threading.Lock()
        self.route("POST", r"/v1/chat/completions", self._chat)
        self.route("POST", r"/chat/completions", self._chat)
        self.route("GET", r"/v1/models", self._models)

    def stop(self) -> None:
        super().stop()
        self._http.close()

    def _forward_headers(self, request: Request) -> dict[str, str]:
        auth = request.headers.get("authorization", "")
        return {"Authorization": auth, "Content-Type": "application/json"} if auth else {}

    def _models(self, request: Request) -> Response:
        r = self._http.get(f"{self.upstream}/models", headers=self._forward_headers(request))
        return Response(r.status_code, r.content, {"Content-Type": "application/json"})

    def _chat(self, request: Request) -> Response:
        body = request.json() or {}
        asked = body.get("max_tokens") or body.get("max_completion_tokens")
        capped = not isinstance(asked, int) or asked > self.output_cap
        if capped:
            body.pop("max_completion_tokens", None)
            body["max_tokens"] = self.output_cap
        fmt = body.get("response_format") or {}
        label = self.label
        started = time.monotonic()
        r = self._http.post(
            f"{self.upstream}/chat/completions",
            content=json.dumps(body).encode(),
            headers=self._forward_headers(request),
        )
        seconds = time.monotonic() - started
        usage: dict[str, Any] = {}
        finish = ""
        with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
            data = r.json()
            usage = data.get("usage") or {}
            finish = str(data["choices"][0].get("finish_reason") or "")
        with self._calls_lock:
            self.calls.append(
                Call(
                    label,
                    int(usage.get("prompt_tokens") or 0),
                    int(usage.get("completion_tokens") or 0),
                    round(seconds, 3),
                    r.status_code,
                    capped,
                    str(fmt.get("type", "none")) if isinstance(fmt, dict) else "?",
                    finish,
                    "\n".join(str(m.get("content") or "") for m in body.get("messages") or []),
                )
            )
        return Response(r.status_code, r.content, {"Content-Type": "application/json"})

    def totals(self, label: str) -> dict[str, Any]:
        with self._calls_lock:
            calls = [c for c in self.calls if c.label == label]
        return {
            "model_calls": len(calls),
            "prompt_tokens": sum(c.prompt_tokens for c in calls),
            "completion_tokens": sum(c.completion_tokens for c in calls),
            "model_seconds": round(sum(c.seconds for c in calls), 2),
            "cut_at_cap": sum(1 for c in calls if c.finish_reason == "length"),
            "failed_calls": sum(1 for c in calls if c.status >= 400),
        }


def json_error(message: str, status: int = 400) -> Response:
    return json_response({"message": message}, status)


# --- merge requests ---------------------------------------------------------------------------

# Plausible Python with a few real problems a reviewer should flag (shell injection, SQL by
# string formatting, a bare except, a secret-looking default, an off-by-one), so the model has
# something to say and comments have lines to land on.
_SNIPPETS = [
    "    cmd = 'tar czf ' + request.args['name'] + ' /data'",
    "    subprocess.call(cmd, shell=True)",
    "    rows = db.execute(\"SELECT * FROM users WHERE name = '%s'\" % name).fetchall()",
    "    try:",
    "        total = sum(r['amount'] for r in rows)",
    "    except:",
    "        total = 0",
    "    for i in range(len(items) + 1):",
    "        result.append(items[i] * factor)",
    "    timeout = int(os.environ.get('TIMEOUT', '30'))",
    "    cache[key] = value",
    "    log.info('processed %s rows for %s', len(rows), name)",
    "    if user.is_admin == 'true':",
    "        grant(user, 'all')",
    "    with open(path) as fh:",
    "        data = json.load(fh)",
    "    return {'total': total, 'count': len(result)}",
]


def _file_diff(index: int, lines: int) -> str:
    """One modified file: hunks of ~20 changed lines with 3 context lines around each."""
    hunks: list[str] = []
    written = h = shift = 0  # shift: lines added so far, moves the new side's numbers
    while written < lines:
        n = min(20, lines - written)
        start = 10 + h * 60
        body = [f" def handler_{index}_{h}(request, db, items, factor):", "     result = []"]
        body.append(f"-    legacy_{h} = compute(request)")
        body += [f"+{_SNIPPETS[(h * 7 + i) % len(_SNIPPETS)][0:]}" for i in range(n - 1)]
        body += ["     audit(request)", "     return result"]
        old = sum(1 for b in body if b[0] in " -")
        new = sum(1 for b in body if b[0] in " +")
        hunks.append(f"@@ -{start},{old} +{start + shift},{new} @@ def handler_{h}:")
        hunks += body
        shift += new - old
        written += n
        h += 1
    return "\n".join(hunks) + "\n"


def generate_files(files: int, lines_per_file: int) -> list[FakeFile]:
    """A merge request of `files` modified Python files with ~`lines_per_file` changed lines."""
    return [
        FakeFile(f"src/pkg_{i}/service_{i}.py", _file_diff(i, lines_per_file)) for i in range(files)
    ]


def changed_lines(files: list[FakeFile]) -> int:
    return sum(
        1
        for f in files
        for line in f.diff.split("\n")
        if line[:1] in ("+", "-") and not line.startswith(("+++", "---"))
    )


@dataclass(frozen=True)
class MRSize:
    name: str
    files: int
    lines_per_file: int

    @property
    def lines(self) -> int:
        return self.files * self.lines_per_file


SIZES = (MRSize("small", 1, 15), MRSize("medium", 3, 30), MRSize("large", 6, 50))


# --- one appliance ----------------------------------------------------------------------------

GL_TOKEN = "glpat-bench-token-0123456789"  # noqa: S105 - a token for the local fake only
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"  # noqa: S105


@dataclass
class BenchAppliance:
    """A Revisor data dir whose only model endpoint is `model_url` (the recording proxy)."""

    root: Path
    gitlab_url: str
    model_url: str
    model_id: str
    model_key: str
    max_output_tokens: int = OUTPUT_CAP
    concurrency: int = 1
    extra_toml: str = ""
    settings: config.Settings = field(init=False)
    _resources: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        from revisor.cli.core import init_data_dir
        from revisor.context import Context
        from revisor.domain import ForgeKind
        from revisor.store import repos, servers

        data = self.root / "data"
        data.mkdir(parents=True, mode=0o700, exist_ok=True)
        key_file = self.root / "model.key"
        key_file.write_text(self.model_key)
        key_file.chmod(0o600)
        (data / "revisor.toml").write_text(
            f"""
[worker]
lease_seconds = 600
max_attempts = 1

[model]
structured_output = "json_object"
max_output_tokens = {self.max_output_tokens}
sidecar_context = {MODEL_CONTEXT}

[[model.endpoints]]
id = "bench"
url = "{self.model_url}/v1"
model = "{self.model_id}"
api_key_file = "{key_file}"
max_concurrency = {self.concurrency}
timeout_seconds = 900
context_tokens = {MODEL_CONTEXT}
{self.extra_toml}
"""
        )
        self.settings = config.load(data, environ={})
        init_data_dir(self.settings)
        self.rt = Context(self.settings, component="worker")
        servers.allow(self.rt.db, self.gitlab_url, added_by="bench")
        self.repo = repos.add(
            self.rt.db,
            self.rt.keys,
            forge=ForgeKind.GITLAB,
            server=self.gitlab_url,
            project="group/app",
            token=GL_TOKEN,
            webhook_secret=WEBHOOK_SECRET,
        )

    def runner(self) -> Any:
        from revisor.worker.resources import WorkerResources

        if self._resources is None:
            self._resources = WorkerResources.assemble(
                self.settings, self.rt.dbs, self.rt.audit, self.rt.keys
            )
        return self._resources.runner

    def job(self, job_id: int) -> Any:
        from revisor.store import jobs

        return jobs.get(self.rt.db, job_id)

    def review(self, iid: int, head: str) -> tuple[Any, float]:
        """One review end to end: a signed webhook for MR `iid` at `head` through the web app,
        then the job through the worker's runner. Returns the finished job and the wall time
        from the delivery to the posted review."""
        from litestar.testing import TestClient

        from revisor.web.app import create_app

        with TestClient(app=create_app(self.settings)) as client:
            body, headers = gitlab_webhook(iid, head)
            started = time.monotonic()
            answer = client.post("/hooks/gitlab", content=body, headers=headers)
            answer.raise_for_status()
            job_id = int(answer.json()["job_id"])
            self.runner()(job_id)
            wall = time.monotonic() - started
        return self.job(job_id), wall

    def close(self) -> None:
        if self._resources is not None:
            self._resources.close()
        self.rt.close()


def gitlab_webhook(iid: int, head: str) -> tuple[bytes, dict[str, str]]:
    """A merge-request 'open' webhook for group/app!iid at `head`, as GitLab sends it."""
    from tests import webhook_payloads as wp

    payload = wp.gitlab_mr(iid=iid, head=head)
    return wp.body_of(payload), wp.gitlab_headers(WEBHOOK_SECRET)
