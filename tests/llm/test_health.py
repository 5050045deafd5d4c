"""The one endpoint health probe (`llm.health.probe_endpoint`)."""

from __future__ import annotations

from revisor.egress import Egress
from revisor.llm.client import Endpoint
from revisor.llm.health import probe_endpoint
from tests.llm.fake_openai import FakeOpenAI
from tests.llm.test_client import free_port


def endpoint(url: str, model: str = "m1", key: str | None = "sk-test") -> Endpoint:
    return Endpoint("e1", url, model, key, 1, 8192, 5.0)


def test_the_probe_says_ok_wrong_model_or_down() -> None:
    """Formerly `Router.health` (dead code outside its test), now the probe every caller uses."""
    down = f"http://127.0.0.1:{free_port()}/v1"
    with FakeOpenAI(model="m1", api_key="sk-test") as fake:
        egress = Egress.from_urls([fake.url, down])
        good = probe_endpoint(endpoint(fake.url + "/v1"), egress, timeout=1.0)
        wrong = probe_endpoint(endpoint(fake.url + "/v1", model="other"), egress, timeout=1.0)
        anything = probe_endpoint(endpoint(fake.url + "/v1", model=""), egress, timeout=1.0)
        bad_key = probe_endpoint(endpoint(fake.url + "/v1", key="nope"), egress, timeout=1.0)
    gone = probe_endpoint(endpoint(down), egress, timeout=1.0)
    assert good == {"ok": True, "detail": "ok", "models": ["m1"]}
    assert wrong["ok"] is False
    assert "does not serve 'other'" in wrong["detail"]
    assert anything["ok"] is True  # a sidecar starting up: any model will do
    assert bad_key["ok"] is False
    assert "HTTP 401" in bad_key["detail"]
    assert gone["ok"] is False
    assert "connection refused" in gone["detail"]


def test_a_host_off_the_allowlist_is_a_failed_probe_not_an_exception() -> None:
    report = probe_endpoint(endpoint("http://10.9.9.9:8000/v1"), Egress.from_urls([]))
    assert report["ok"] is False
    assert "allowlist" in report["detail"]
