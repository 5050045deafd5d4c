"""`revisor status` with services down, and the last error per repository."""

from __future__ import annotations

import dataclasses
import json

import pytest

from revisor.cli import main
from revisor.cli.observe import collect_status, render_status
from revisor.context import Context
from tests.reliability.harness import free_port
from tests.worker.conftest import Appliance, appliance  # noqa: F401


@pytest.fixture
def rt(appliance: Appliance) -> Context:  # noqa: F811
    """The appliance with nothing listening on its web port and no worker running."""
    s = appliance.settings
    port = free_port()
    settings = dataclasses.replace(s, server=dataclasses.replace(s.server, port=port))
    db = appliance.rt.db
    first = appliance.new_job()
    db.execute("UPDATE jobs SET state = 'failed', last_error = 'old error' WHERE id = ?", [first])
    second = appliance.new_job()
    db.execute(
        "UPDATE jobs SET state = 'queued', last_error = ? WHERE id = ?",
        ["token rejected by gitlab (401)", second],
    )
    db.conn.commit()
    return Context(settings)


def test_status_reports_what_is_down_and_the_newest_error(rt: Context) -> None:
    status = collect_status(rt)
    services = {s.name: s for s in status.services}
    assert not services["web"].up
    assert not services["worker"].up
    assert services["model"].up  # the fake model endpoint answers /v1/models
    assert not status.healthy
    assert status.jobs_last_hour["failed"] == 1
    assert status.jobs_last_hour["queued"] == 1
    [error] = status.last_errors
    assert error["repo"] == "gitlab:group/app"
    assert error["error"] == "token rejected by gitlab (401)"
    text = render_status(status, rt.settings.data_dir)
    assert "web     DOWN" in text
    assert "worker  DOWN" in text
    assert "model   up" in text
    assert "token rejected by gitlab (401)" in text
    assert "failed 1" in text
    rt.close()


def test_status_cli_json_and_exit_code(
    appliance: Appliance,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REVISOR_SERVER__PORT", str(free_port()))
    code = main(["status", "--json", "--data-dir", str(appliance.settings.data_dir)])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["healthy"] is False
    assert [s["name"] for s in data["services"]] == ["web", "worker", "model"]
    assert data["queue_depth"] == 0
