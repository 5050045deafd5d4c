"""Fixtures for the reliability tests: the worker tests' appliance, plus the real server."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from revisor.store import jobs
from tests.fakes.model import FakeFile
from tests.reliability.harness import Delivery, Server, cli_json, send_mr_hook
from tests.worker.conftest import APP_DIFF, Appliance, appliance  # noqa: F401 (fixture)
from tests.worker.test_crash import Workers


@dataclass
class Stack:
    """The appliance (data dir, fake GitLab, fake model) with `revisor serve` and `revisor
    worker` running on it as real processes."""

    app: Appliance
    server: Server
    workers: Workers

    def start(self, *, worker: bool = True) -> None:
        if worker:
            self.workers.start()
        self.server.start()

    def add_mrs(self, iids: range) -> None:
        for iid in iids:
            self.app.gitlab.add_merge_request(
                "group/app", iid, files=[FakeFile("app.py", APP_DIFF)]
            )

    def hook(self, iid: int = 7) -> Delivery:
        with httpx.Client() as client:
            return send_mr_hook(client, self.server.url, iid=iid, head=self.app.head(iid))

    def job(self, job_id: int) -> jobs.Job:
        return self.app.job(job_id)

    def show(self, job_id: int) -> dict:  # type: ignore[type-arg]
        """`revisor jobs show ID --json`: what an admin sees."""
        data: dict = cli_json(self.app.settings.data_dir, "jobs", "show", str(job_id))  # type: ignore[type-arg]
        return data

    def stop(self) -> None:
        self.server.stop(signal.SIGTERM)
        self.workers.stop_all()


@pytest.fixture
def stack(appliance: Appliance) -> Iterator[Stack]:  # noqa: F811
    s = Stack(appliance, Server(appliance.settings.data_dir, appliance.root), Workers(appliance))
    yield s
    s.stop()
