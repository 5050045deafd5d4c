"""The worker's resources are built once per process, not per job (worker/resources.py)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest

from revisor import config
from revisor.errors import ConfigError
from revisor.store import repos, servers
from revisor.worker import resources
from revisor.worker.resources import WorkerResources
from tests.worker.conftest import Appliance


def counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count the calls of `revisor.worker.resources.<name>` (still calling the real one)."""
    calls: list[int] = []
    real: Callable[..., Any] = getattr(resources, name)

    def counted(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(resources, name, counted)
    return calls


def test_n_jobs_share_one_egress_one_router_and_one_forge_adapter(
    appliance: Appliance, monkeypatch: pytest.MonkeyPatch
) -> None:
    egresses = counting(monkeypatch, "configured_egress")
    routers = counting(monkeypatch, "build_router")
    forges = counting(monkeypatch, "open_forge")
    runner = appliance.runner()
    for _ in range(4):
        job_id = appliance.new_job()
        runner(job_id)
        assert appliance.job(job_id).state == "done", appliance.job(job_id).last_error
    assert (len(egresses), len(routers), len(forges)) == (1, 1, 1)
    assert appliance.model.chat_count() == 4  # four reviews, over the one router


def test_a_configuration_change_rebuilds_them_once(
    appliance: Appliance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an admin changes while the worker runs applies to the next job, as it did when
    everything was built per job: a new Git server, a changed repository."""
    egresses = counting(monkeypatch, "configured_egress")
    routers = counting(monkeypatch, "build_router")
    forges = counting(monkeypatch, "open_forge")
    runner = appliance.runner()
    runner(appliance.new_job())
    servers.allow(appliance.rt.db, "https://gitlab.other.test", added_by="test")
    runner(appliance.new_job())
    runner(appliance.new_job())
    assert (len(egresses), len(routers), len(forges)) == (2, 2, 2)
    repos.set_policy(appliance.rt.db, appliance.repo.id, {"min_severity": "minor"})
    runner(appliance.new_job())
    assert (len(egresses), len(routers), len(forges)) == (2, 2, 3)


def test_forge_adapters_are_not_shared_between_threads(appliance: Appliance) -> None:
    res = appliance.runner() and appliance.resources
    assert res is not None
    seen: list[object] = []

    def adapter() -> None:
        seen.append(res.forges.for_repo(appliance.repo.id))

    adapter()
    adapter()
    other = threading.Thread(target=adapter)
    other.start()
    other.join()
    assert seen[0] is seen[1]
    assert seen[2] is not seen[0]


def test_open_refuses_a_missing_data_dir_and_close_closes_what_it_opened(
    appliance: Appliance, tmp_path: Any
) -> None:
    with pytest.raises(ConfigError, match="revisor init"):
        WorkerResources.open(config.Settings(data_dir=tmp_path / "nowhere"))
    res = WorkerResources.open(appliance.settings)
    router = res.connections.router()
    res.close()
    assert all(c._http.is_closed for c in router.clients.values())
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        res.audit.db.conn.execute("SELECT 1")
