from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from revisor import config
from revisor.config import EndpointSettings, ModelSettings
from revisor.domain import ChatMessage, UsageRecord
from revisor.egress import Egress
from revisor.errors import ConfigError
from revisor.llm import registry
from revisor.secrets import KeyRing
from revisor.store import db as store_db
from revisor.store import endpoints
from revisor.store import usage as store_usage
from tests.llm.fake_openai import FakeOpenAI


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(model="qwen", api_key="sk-gpu") as server:
        yield server


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return store_db.open_database(tmp_path / "r.db")


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    KeyRing.create_key(tmp_path / "keys")
    return KeyRing.load(tmp_path / "keys")


def settings(tmp_path: Path, **model: object) -> config.Settings:
    return config.Settings(data_dir=tmp_path, model=ModelSettings(**model))  # type: ignore[arg-type]


def add_endpoint(
    db: sqlite_utils.Database, keys: KeyRing, *, endpoint_id: str, url: str, **kw: Any
) -> endpoints.StoredEndpoint:
    """What `revisor model add` does: the model layer checks, the store keeps."""
    return endpoints.add(db, keys, endpoint_id=registry.check_id(endpoint_id),
                         url=registry.check_url(url), **kw)  # fmt: skip


def collect_endpoints(
    settings: config.Settings,
    db: sqlite_utils.Database | None,
    keys: KeyRing | None,
    *,
    sidecar_url: str | None = None,
    sidecar_key: str | None = None,
) -> registry.EndpointSet:
    registered = endpoints.with_keys(db, keys) if db is not None else []
    sidecar: registry.SidecarChoice = (
        registry.SidecarAt(sidecar_url, sidecar_key) if sidecar_url else "never"
    )
    return registry.select_endpoints(settings, registered, sidecar=sidecar)


def test_api_key_is_sealed_and_bound_to_its_row(db: sqlite_utils.Database, keys: KeyRing) -> None:
    add_endpoint(db, keys, endpoint_id="gpu1", url="http://h:8000", api_key="sk-secret")
    raw = db.execute("SELECT api_key_enc, url FROM model_endpoints WHERE id='gpu1'").fetchone()
    assert b"sk-secret" not in raw[0]
    assert raw[1] == "http://h:8000/v1"
    # a blob copied into another row does not decrypt
    add_endpoint(db, keys, endpoint_id="gpu2", url="http://h:8001")
    db.execute("UPDATE model_endpoints SET api_key_enc = ? WHERE id = 'gpu2'", [raw[0]])
    with pytest.raises(Exception, match="does not decrypt"):
        collect_endpoints(config.Settings(data_dir=Path(".")), db, keys)


def test_add_validates_and_refuses_duplicates(db: sqlite_utils.Database, keys: KeyRing) -> None:
    add_endpoint(db, keys, endpoint_id="gpu1", url="http://h:8000")
    with pytest.raises(ConfigError, match="exists"):
        add_endpoint(db, keys, endpoint_id="gpu1", url="http://h:8000")
    with pytest.raises(ConfigError, match="reserved"):
        add_endpoint(db, keys, endpoint_id="local", url="http://h:8000")
    with pytest.raises(ConfigError):
        add_endpoint(db, keys, endpoint_id="Bad Id", url="http://h:8000")
    with pytest.raises(ConfigError):
        add_endpoint(db, keys, endpoint_id="x", url="ftp://h")
    with pytest.raises(ConfigError):
        add_endpoint(db, keys, endpoint_id="x", url="http://user:pw@h")
    endpoints.remove(db, "gpu1")
    with pytest.raises(endpoints.EndpointNotFound):
        endpoints.remove(db, "gpu1")


def test_default_order(tmp_path: Path, db: sqlite_utils.Database, keys: KeyRing) -> None:
    s = settings(tmp_path, endpoints=(EndpointSettings(id="toml1", url="http://t:1"),))
    assert collect_endpoints(s, db, keys, sidecar_url="http://127.0.0.1:8081").default == "toml1"
    add_endpoint(db, keys, endpoint_id="a", url="http://a:1")
    add_endpoint(db, keys, endpoint_id="b", url="http://b:1", default=True)
    found = collect_endpoints(s, db, keys, sidecar_url="http://127.0.0.1:8081")
    assert found.default == "b"
    assert set(found.endpoints) == {"toml1", "a", "b", "local"}
    add_endpoint(db, keys, endpoint_id="c", url="http://c:1", default=True)
    assert collect_endpoints(s, db, keys).default == "c"  # only one default
    only_local = collect_endpoints(
        settings(tmp_path), None, None, sidecar_url="http://127.0.0.1:8081"
    )
    assert only_local.default == "local"
    assert only_local.endpoints["local"].max_concurrency == 1  # llama.cpp serves one at a time
    with pytest.raises(ConfigError, match="no model endpoint"):
        collect_endpoints(settings(tmp_path), None, None)


def test_toml_and_db_ids_must_not_clash(
    tmp_path: Path, db: sqlite_utils.Database, keys: KeyRing
) -> None:
    add_endpoint(db, keys, endpoint_id="gpu1", url="http://a:1")
    s = settings(tmp_path, endpoints=(EndpointSettings(id="gpu1", url="http://t:1"),))
    with pytest.raises(ConfigError, match="both"):
        collect_endpoints(s, db, keys)


def test_build_router_end_to_end_with_usage_rows(
    tmp_path: Path, db: sqlite_utils.Database, keys: KeyRing, fake: FakeOpenAI
) -> None:
    add_endpoint(
        db,
        keys,
        endpoint_id="gpu1",
        url=fake.url,
        model="qwen",
        api_key="sk-gpu",
        max_concurrency=4,
    )
    db.execute(
        "INSERT INTO repos (id, forge, server, project, token_enc, webhook_secret_enc, created_at)"
        " VALUES (1, 'gitlab', 'https://g', 'p', x'00', x'00', 0)"
    )
    db.execute(
        "INSERT INTO jobs (id, repo_id, mr_number, head_sha, trigger, state, created_at,"
        " updated_at) VALUES (9, 1, 1, 'abc', 'hook', 'running', 0, 0)"
    )
    db.conn.commit()
    recs: list[UsageRecord] = []

    def on_usage(rec: UsageRecord) -> None:
        recs.append(rec)
        store_usage.record(db, 9, 1, rec)

    s = settings(tmp_path, routes=({"match": {"sensitivity": "high"}, "endpoint": "local"},))
    router = registry.build_router(
        s, collect_endpoints(s, db, keys, sidecar_url="http://127.0.0.1:9", sidecar_key="k"),
        Egress.from_urls([*endpoints.urls(db), "http://127.0.0.1:9"]), on_usage=on_usage,
    )  # fmt: skip
    assert router.default == "gpu1"
    assert router.concurrency == 4
    result = router.complete([ChatMessage("user", "hi")], max_tokens=5)
    assert result.endpoint == "gpu1"
    totals = store_usage.totals_for_job(db, 9)
    assert (totals.prompt_tokens, totals.completion_tokens, totals.requests) == (42, 7, 1)
    assert store_usage.failures_for_job(db, 9) == 0
    router.close()


def test_build_router_checks_settings(
    tmp_path: Path, db: sqlite_utils.Database, keys: KeyRing
) -> None:
    egress = Egress.from_urls(["http://127.0.0.1:9"])
    s = settings(tmp_path, structured_output="yaml")
    found = collect_endpoints(s, db, keys, sidecar_url="http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="structured_output"):
        registry.build_router(s, found, egress)
    s = settings(tmp_path, fallback="gpu9")
    found = collect_endpoints(s, db, keys, sidecar_url="http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="fallback"):
        registry.build_router(s, found, egress)


def test_one_function_decides_which_endpoints_and_when_the_sidecar(
    tmp_path: Path, db: sqlite_utils.Database, keys: KeyRing
) -> None:
    """`select_endpoints` is where the worker, /readyz, `model list`, `review` and the dashboard
    learn which endpoints to use; the sidecar joins them only when asked to, or (the default)
    when nothing external is configured: that is when `revisor up` starts it."""
    (tmp_path / "keys").mkdir(exist_ok=True)
    s = settings(tmp_path, sidecar_port=8089)
    alone = registry.select_endpoints(s, [])
    assert set(alone.endpoints) == {"local"}
    assert alone.endpoints["local"].url == "http://127.0.0.1:8089/v1"
    key = alone.endpoints["local"].api_key
    assert key
    assert (tmp_path / "keys" / "sidecar-api.key").read_text() == key
    assert registry.uses_embedded_model(s, [])

    add_endpoint(db, keys, endpoint_id="gpu1", url="http://h:8000", api_key="sk-gpu")
    registered = endpoints.with_keys(db, keys)
    assert not registry.uses_embedded_model(s, registered)
    assert set(registry.select_endpoints(s, registered).endpoints) == {"gpu1"}
    listed = registry.select_endpoints(s, registered, sidecar="always")
    assert set(listed.endpoints) == {"gpu1", "local"}
    assert listed.endpoints["local"].api_key == key  # read, never created by a listing
    assert listed.endpoints["gpu1"].api_key == "sk-gpu"
    with pytest.raises(ConfigError, match="no model endpoint"):
        registry.select_endpoints(s, [], sidecar="never")
    started = registry.SidecarAt("http://127.0.0.1:9999", "k")
    assert registry.select_endpoints(s, [], sidecar=started).endpoints["local"].url == (
        "http://127.0.0.1:9999/v1"
    )


def test_listing_does_not_create_the_sidecar_key(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert registry.sidecar_endpoint(s, create_key=False).api_key is None
    assert not (tmp_path / "keys" / "sidecar-api.key").exists()
