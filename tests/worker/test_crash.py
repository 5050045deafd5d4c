"""Kill the real Huey consumer with SIGKILL mid-job; a new one finishes the job exactly once.

Huey's SQLite storage forgets a task once a worker has taken it, so these tests prove that the
`jobs` table, the lease and the reaper (not Huey) are what make a review survive a crash, and
that fingerprints keep the second run from posting anything twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from revisor.worker.queue import Queue
from tests.fakes.server import Request, Response, json_response
from tests.worker.conftest import Appliance

pytestmark = pytest.mark.slow

WORKER_ENV = {
    "REVISOR_WORKER__LEASE_SECONDS": "3",
    "REVISOR_WORKER__REAP_INTERVAL_SECONDS": "0.5",
}


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Workers:
    """Start and SIGKILL `revisor worker` processes on the appliance's data dir."""

    def __init__(self, app: Appliance) -> None:
        self.app = app
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **WORKER_ENV}
        log = open(self.app.root / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "revisor",
                "worker",
                "--data-dir",
                str(self.app.settings.data_dir),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture
def workers(appliance: Appliance) -> Iterator[Workers]:
    w = Workers(appliance)
    yield w
    w.stop_all()


def enqueue(app: Appliance) -> int:
    job_id = app.new_job()
    Queue(app.settings).enqueue(job_id)
    return job_id


def assert_reviewed_exactly_once(app: Appliance, job_id: int) -> None:
    job = app.job(job_id)
    assert job.state == "done", job.last_error
    assert job.attempts == 2
    assert len(app.gitlab.discussions("group/app", 7)) == 1
    assert len(app.gitlab.notes("group/app", 7)) == 1
    assert app.gitlab.commit_statuses(app.head())[-1]["state"] == "success"


def test_kill_during_model_call(appliance: Appliance, workers: Workers) -> None:
    appliance.model.delay = 120  # the first request hangs until the server stops
    job_id = enqueue(appliance)
    first = workers.start()
    wait_for("the model request", lambda: appliance.model.chat_count() >= 1)
    assert appliance.job(job_id).state == "running"
    workers.kill(first)
    appliance.model.delay = 0
    workers.start()
    wait_for("the job to finish", lambda: appliance.job(job_id).state == "done")
    assert_reviewed_exactly_once(appliance, job_id)


def test_kill_before_fetch(appliance: Appliance, workers: Workers) -> None:
    """Huey took the task, the worker died before doing anything: the lease brings it back."""
    appliance.gitlab.inject(500, times=1, hang=120, path_contains="/versions")
    job_id = enqueue(appliance)
    first = workers.start()
    wait_for("the fetch", lambda: appliance.gitlab.count("GET", "/versions") >= 1)
    workers.kill(first)
    workers.start()
    wait_for("the job to finish", lambda: appliance.job(job_id).state == "done")
    assert_reviewed_exactly_once(appliance, job_id)


def test_kill_between_comments_and_summary(appliance: Appliance, workers: Workers) -> None:
    """Inline comments are posted, the summary is not: the rerun posts the summary only."""
    gate = threading.Event()
    original = appliance.gitlab._post_note

    def stalling_post_note(request: Request) -> Response:
        if not gate.is_set():
            gate.wait(120)  # released when the test ends; answers without side effects
            return json_response({"message": "504 Gateway Timeout"}, 504)
        return original(request)

    appliance.gitlab._routes = [
        (m, p, stalling_post_note if h == original else h) for m, p, h in appliance.gitlab._routes
    ]
    job_id = enqueue(appliance)
    first = workers.start()
    wait_for("the inline comment", lambda: len(appliance.gitlab.discussions("group/app", 7)) == 1)
    wait_for("the summary request", lambda: appliance.gitlab.count("POST", "/notes") >= 1)
    workers.kill(first)
    gate.set()
    workers.start()
    wait_for("the job to finish", lambda: appliance.job(job_id).state == "done")
    assert_reviewed_exactly_once(appliance, job_id)
