"""The one place the egress allowlist's inputs are gathered (`outbound.configured_egress`), and
the model health probe built on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from revisor import config
from revisor.config import ModelSettings
from revisor.errors import EgressDenied
from revisor.outbound import configured_egress, model_health
from revisor.secrets import KeyRing
from revisor.store import db as store_db
from revisor.store import endpoints, servers
from tests.llm.fake_openai import FakeOpenAI


def test_allowlist_has_the_allowed_servers_and_endpoints_and_nothing_else(tmp_path: Path) -> None:
    KeyRing.create_key(tmp_path / "keys")
    keys = KeyRing.load(tmp_path / "keys")
    db = store_db.open_database(tmp_path / "r.db")
    settings = config.Settings(data_dir=tmp_path)
    servers.allow(db, "https://gitlab.test", added_by="test")
    endpoints.add(db, keys, endpoint_id="gpu1", url="https://gpu1.test:8000/v1")
    refused: list[tuple[str, str]] = []
    egress = configured_egress(
        settings, db, on_refusal=lambda h, p: refused.append((h, p)), extra_urls=["http://x:1"]
    )
    assert {("gitlab.test", 443), ("gpu1.test", 8000), ("127.0.0.1", 8081), ("x", 1)} <= set(
        egress.allowed
    )
    with pytest.raises(EgressDenied):
        egress.check("https://evil.test", "test")
    assert refused == [("evil.test:443", "test")]


def test_model_health_probes_the_default_endpoint_and_never_raises(tmp_path: Path) -> None:
    KeyRing.create_key(tmp_path / "keys")
    keys = KeyRing.load(tmp_path / "keys")
    db = store_db.open_database(tmp_path / "r.db")
    settings = config.Settings(data_dir=tmp_path, model=ModelSettings(sidecar_port=1))
    down = model_health(settings, db, keys)  # the embedded sidecar, not running
    assert down["ok"] is False
    assert down["endpoint"] == "local"
    with FakeOpenAI(model="qwen", api_key="sk-gpu") as fake:
        endpoints.add(db, keys, endpoint_id="gpu1", url=fake.url + "/v1", model="qwen",
                      api_key="sk-gpu")  # fmt: skip
        assert model_health(settings, db, keys) == {"ok": True, "endpoint": "gpu1", "detail": "ok"}
