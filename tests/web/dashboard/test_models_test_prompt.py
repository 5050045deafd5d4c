"""The models page's "Test" button: the fixed prompt to one endpoint, shown inline, audited."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar

from revisor.audit import AuditLog
from revisor.config import EndpointSettings, Settings
from tests.llm.fake_openai import FakeOpenAI
from tests.web.webapp import client_as, make_app, settings_for

KEY = "sk-dashboard-test-key"
ANSWER = '{"ok": true} <b>bold</b> ' + "x" * 300


@dataclass
class World:
    settings: Settings
    app: Litestar
    model: FakeOpenAI


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    model = FakeOpenAI(model="m1", api_key=KEY)
    url = model.start()
    key_file = tmp_path / "model.key"
    key_file.write_text(KEY)
    wrong_key = tmp_path / "wrong.key"
    wrong_key.write_text("sk-wrong")
    endpoints = (
        EndpointSettings(id="fake", url=f"{url}/v1", model="m1", api_key_file=str(key_file)),
        EndpointSettings(id="badkey", url=f"{url}/v1", model="m1", api_key_file=str(wrong_key)),
        EndpointSettings(id="down", url=f"http://127.0.0.1:{closed_port()}/v1", model="m1"),
    )
    settings = settings_for(tmp_path)
    settings = dataclasses.replace(
        settings, model=dataclasses.replace(settings.model, endpoints=endpoints, fallback="fake")
    )
    model.reply = ANSWER
    try:
        yield World(settings, make_app(settings), model)
    finally:
        model.stop()


def model_requests(settings: Settings) -> list[dict]:  # type: ignore[type-arg]
    log = AuditLog(settings.audit_path)
    try:
        return [r for r in log.records() if r["event"] == "model.request"]
    finally:
        log.close()


def test_admin_sees_a_test_form_per_endpoint_viewer_does_not(world: World) -> None:
    admin, _ = client_as(world.app, world.settings, "admin")
    viewer, _ = client_as(world.app, world.settings, "viewer")
    with admin, viewer:
        admin_page = admin.get("/models").text
        viewer_page = viewer.get("/models").text
    for eid in ("fake", "badkey", "down"):
        assert f'action="/models/{eid}/test"' in admin_page
    assert "/test" not in viewer_page


def test_success_shows_latency_tokens_and_escaped_answer_and_audits_without_it(
    world: World,
) -> None:
    client, csrf = client_as(world.app, world.settings, "admin")
    with client:
        r = client.post("/models/fake/test", headers={"x-csrf-token": csrf, "hx-request": "true"})
    assert r.status_code == 200
    assert "<h1>Models</h1>" not in r.text  # htmx: only the endpoint's cell
    assert "badge done" in r.text
    assert " ms · model m1 · 42 prompt + 7 completion tokens" in r.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in r.text
    assert "<b>bold" not in r.text
    assert "x" * 200 not in r.text  # the answer is cut to 200 characters
    (body,) = world.model.bodies
    assert body["max_tokens"] == 32
    assert body["messages"][0] == {"role": "system", "content": "You are a health check."}
    (rec,) = model_requests(world.settings)
    assert rec["actor"] == "user:ldap:admin-user"
    assert rec["target"] == "model:fake"
    assert rec["outcome"] == "success"
    details = rec["details"]
    assert details["purpose"] == "test prompt"
    assert details["endpoint"] == "fake"
    assert (details["prompt_tokens"], details["completion_tokens"]) == (42, 7)
    assert "bold" not in json.dumps(rec)  # the answer never reaches the audit log
    assert "xxxx" not in json.dumps(rec)


def test_plain_form_post_renders_the_whole_page_with_the_result(world: World) -> None:
    client, csrf = client_as(world.app, world.settings, "admin")
    with client:
        r = client.post("/models/fake/test", data={"_csrf": csrf})
    assert r.status_code == 200
    assert "<h1>Models</h1>" in r.text
    assert "42 prompt + 7 completion tokens" in r.text


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("down", "connection refused or host unreachable"),
        ("badkey", "refused the API key (HTTP 401)"),
    ],
)
def test_failures_are_a_clear_message_not_a_500(world: World, endpoint: str, message: str) -> None:
    client, csrf = client_as(world.app, world.settings, "admin")
    with client:
        r = client.post(
            f"/models/{endpoint}/test", headers={"x-csrf-token": csrf, "hx-request": "true"}
        )
    assert r.status_code == 200
    assert "badge failed" in r.text
    assert message in r.text
    assert world.model.bodies == []  # not the configured fallback: only the endpoint asked
    (rec,) = model_requests(world.settings)
    assert rec["target"] == f"model:{endpoint}"
    assert rec["outcome"] == "failure"
    assert rec["details"]["purpose"] == "test prompt"


def test_unknown_endpoint_is_404(world: World) -> None:
    client, csrf = client_as(world.app, world.settings, "admin")
    with client:
        r = client.post("/models/nope/test", headers={"x-csrf-token": csrf})
    assert r.status_code == 404
    assert model_requests(world.settings) == []


@pytest.mark.parametrize("role", ["maintainer", "auditor", "viewer"])
def test_non_admins_are_refused(world: World, role: str) -> None:
    client, csrf = client_as(world.app, world.settings, role)
    with client:
        r = client.post("/models/fake/test", headers={"x-csrf-token": csrf})
    assert r.status_code == 403
    assert world.model.bodies == []
    assert model_requests(world.settings) == []


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_wrong_csrf_token_is_refused(world: World, token: str | None) -> None:
    client, _ = client_as(world.app, world.settings, "admin")
    data = {"_csrf": token} if token else {}
    with client:
        r = client.post("/models/fake/test", data=data)
    assert r.status_code == 403
    assert world.model.bodies == []
    assert model_requests(world.settings) == []


def test_the_page_shows_the_structured_output_the_engine_is_asked_for(world: World) -> None:
    vllm = dataclasses.replace(
        world.settings, model=dataclasses.replace(world.settings.model, engine="vllm")
    )
    client, _ = client_as(make_app(vllm), vllm, "viewer")
    with client:
        page = client.get("/models").text
    assert "<dd>json_schema (auto, per engine)</dd>" in page
    chosen = dataclasses.replace(
        world.settings,
        model=dataclasses.replace(world.settings.model, structured_output="json_object"),
    )
    client, _ = client_as(make_app(chosen), chosen, "viewer")
    with client:
        page = client.get("/models").text
    assert "<dd>json_object</dd>" in page  # the admin's choice, for every engine
