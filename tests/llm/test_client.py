from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from revisor.domain import ChatMessage, RouteHints, UsageRecord
from revisor.egress import Egress, parse_retry_after
from revisor.errors import ConfigError, EgressDenied, ModelError, ModelUnavailable
from revisor.llm.client import (
    Endpoint,
    EndpointClient,
    RequestOptions,
    RetryPolicy,
    Router,
    normalize_base_url,
    parse_routes,
    request_body,
)
from tests.llm.fake_openai import FakeOpenAI

MESSAGES = [ChatMessage("system", "You review code."), ChatMessage("user", "diff here")]
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_total_seconds=10)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as srv:
        yield srv


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make(
    url: str,
    *,
    eid: str = "e1",
    model: str = "m1",
    key: str | None = "sk-test",
    concurrency: int = 1,
    timeout: float = 5.0,
    retry: RetryPolicy = FAST,
    usage: list[UsageRecord] | None = None,
    sleeps: list[float] | None = None,
    options: RequestOptions | None = None,
    engine: str = "",
) -> EndpointClient:
    endpoint = Endpoint(eid, url, model, key, concurrency, 8192, timeout, engine=engine)
    return EndpointClient(
        endpoint,
        Egress.from_urls([url]),
        options=options,
        retry=retry,
        on_usage=None if usage is None else usage.append,
        sleep=(lambda s: None) if sleeps is None else sleeps.append,
        rng=lambda: 0.0,
    )


def test_success_parses_text_usage_and_sends_json_mode(fake: FakeOpenAI) -> None:
    usage: list[UsageRecord] = []
    client = make(fake.url, usage=usage)
    result = client.complete(MESSAGES, max_tokens=256, json_mode=True)
    assert result.text == '{"findings": []}'
    assert (result.model, result.endpoint, result.finish_reason) == ("m1", "e1", "stop")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (42, 7)
    assert result.usage.requests == 1
    body = fake.last_body()
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_tokens"] == 256
    assert body["stream"] is False
    assert body["messages"] == [
        {"role": "system", "content": "You review code."},
        {"role": "user", "content": "diff here"},
    ]
    assert len(usage) == 1
    rec = usage[0]
    assert (rec.model, rec.endpoint, rec.prompt_tokens, rec.completion_tokens, rec.ok) == (
        "m1", "e1", 42, 7, True,
    )  # fmt: skip
    assert "diff here" not in repr(rec)


def test_plain_mode_sends_no_response_format(fake: FakeOpenAI) -> None:
    make(fake.url).complete(MESSAGES, max_tokens=10, json_mode=False)
    assert "response_format" not in fake.last_body()


def test_the_seed_is_sent_unless_there_is_none(fake: FakeOpenAI) -> None:
    make(fake.url).complete(MESSAGES, max_tokens=10)
    assert fake.last_body()["seed"] == 0
    for seed, sent in ((None, None), (7, 7)):
        body = request_body(
            "m", MESSAGES, max_tokens=5, json_mode=False, options=RequestOptions(seed=seed)
        )
        assert body.get("seed") == sent


def test_json_schema_mode_spelling_per_engine() -> None:
    schema = {"type": "object", "properties": {"findings": {"type": "array"}}}
    opts = RequestOptions(structured_output="json_schema", json_schema=schema)
    openai = request_body("m", MESSAGES, max_tokens=5, json_mode=True, options=opts)
    assert openai["response_format"]["type"] == "json_schema"
    assert openai["response_format"]["json_schema"]["schema"] == schema
    llama = request_body(
        "m", MESSAGES, max_tokens=5, json_mode=True, options=opts, engine="llama.cpp"
    )
    assert llama["response_format"] == {"type": "json_object", "schema": schema}


def test_500_then_success_is_retried(fake: FakeOpenAI) -> None:
    usage: list[UsageRecord] = []
    sleeps: list[float] = []
    fake.inject(500, times=1, path_contains="chat")
    result = make(fake.url, usage=usage, sleeps=sleeps).complete(MESSAGES, max_tokens=5)
    assert result.text
    assert fake.chat_count() == 2
    assert [r.ok for r in usage] == [False, True]
    assert usage[0].error == "HTTP 500"
    assert len(sleeps) == 1


def test_429_retry_after_is_honoured(fake: FakeOpenAI) -> None:
    sleeps: list[float] = []
    fake.inject(429, times=1, retry_after=7, path_contains="chat")
    make(fake.url, sleeps=sleeps).complete(MESSAGES, max_tokens=5)
    assert sleeps == [7.0]


def test_long_retry_after_gives_up_with_hint(fake: FakeOpenAI) -> None:
    fake.inject(429, times=5, retry_after=3600, path_contains="chat")
    with pytest.raises(ModelUnavailable) as err:
        make(fake.url).complete(MESSAGES, max_tokens=5)
    assert err.value.retry_after == 3600
    assert fake.chat_count() == 1


def test_persistent_5xx_stops_after_max_attempts(fake: FakeOpenAI) -> None:
    fake.inject(503, times=10, path_contains="chat")
    with pytest.raises(ModelUnavailable, match="HTTP 503"):
        make(fake.url).complete(MESSAGES, max_tokens=5)
    assert fake.chat_count() == FAST.max_attempts


def test_timeout_becomes_model_unavailable_after_bounded_attempts(fake: FakeOpenAI) -> None:
    fake.inject(times=5, hang=5.0, path_contains="chat")
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_total_seconds=10)
    with pytest.raises(ModelUnavailable, match="timed out"):
        make(fake.url, timeout=0.3, retry=retry).complete(MESSAGES, max_tokens=5)
    assert fake.chat_count() == 2


def test_total_time_budget_bounds_retries(fake: FakeOpenAI) -> None:
    fake.inject(500, times=10, path_contains="chat")
    retry = RetryPolicy(max_attempts=10, base_delay=5.0, max_total_seconds=1.0)
    with pytest.raises(ModelUnavailable):
        make(fake.url, retry=retry).complete(MESSAGES, max_tokens=5)
    assert fake.chat_count() == 1  # the first backoff (>= 2.5 s) would overrun the 1 s budget


def test_connection_refused_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelUnavailable, match="connection refused"):
        make(url).complete(MESSAGES, max_tokens=5)


def test_401_is_a_model_error_without_retry(fake: FakeOpenAI) -> None:
    with pytest.raises(ModelError, match="refused the API key") as err:
        make(fake.url, key="wrong").complete(MESSAGES, max_tokens=5)
    assert "wrong" not in str(err.value)
    assert fake.chat_count() == 1


def test_404_unknown_model_names_the_model(fake: FakeOpenAI) -> None:
    with pytest.raises(ModelError, match="'other'"):
        make(fake.url, model="other").complete(MESSAGES, max_tokens=5)
    assert fake.chat_count() == 1


def test_garbled_answer_is_retried_then_unavailable(fake: FakeOpenAI) -> None:
    fake.garble = True
    with pytest.raises(ModelUnavailable, match="not an OpenAI chat completion"):
        make(fake.url).complete(MESSAGES, max_tokens=5)


def test_egress_allowlist_is_enforced(fake: FakeOpenAI) -> None:
    endpoint = Endpoint("e1", fake.url, "m1", "sk-test")
    with pytest.raises(EgressDenied):
        EndpointClient(endpoint, Egress.from_urls(["http://127.0.0.1:1"]))


def test_models_health(fake: FakeOpenAI) -> None:
    assert make(fake.url).models() == ["m1"]
    with pytest.raises(ModelError):
        make(fake.url, key="bad").models()


@pytest.mark.parametrize("limit", [1, 2])
def test_concurrency_limit_is_honoured(fake: FakeOpenAI, limit: int) -> None:
    fake.delay = 0.15
    client = make(fake.url, concurrency=limit)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.complete(MESSAGES, max_tokens=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not errors
    assert fake.chat_count() == 5
    assert fake.max_in_flight == limit


def test_normalize_base_url() -> None:
    assert normalize_base_url("http://h:1") == "http://h:1/v1"
    assert normalize_base_url("http://h:1/v1/") == "http://h:1/v1"


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --- router -------------------------------------------------------------------------------------


def test_fallback_to_second_endpoint_when_first_is_down(fake: FakeOpenAI) -> None:
    usage: list[UsageRecord] = []
    down = make(f"http://127.0.0.1:{free_port()}/v1", eid="primary", usage=usage)
    backup = make(fake.url, eid="backup", usage=usage)
    router = Router({"primary": down, "backup": backup}, "primary", fallback="backup")
    result = router.complete(MESSAGES, max_tokens=5)
    assert result.endpoint == "backup"
    assert [(r.endpoint, r.ok) for r in usage][-1] == ("backup", True)
    assert any(r.endpoint == "primary" and not r.ok for r in usage)


def test_model_error_does_not_fall_back(fake: FakeOpenAI) -> None:
    bad_key = make(fake.url, eid="primary", key="wrong")
    backup = make(fake.url, eid="backup")
    router = Router({"primary": bad_key, "backup": backup}, "primary", fallback="backup")
    with pytest.raises(ModelError):
        router.complete(MESSAGES, max_tokens=5)
    assert fake.chat_count() == 1


def test_routing_rules(fake: FakeOpenAI) -> None:
    clients = {eid: make(fake.url, eid=eid, concurrency=n) for eid, n in
               (("main", 1), ("local", 1), ("gpu1", 8))}  # fmt: skip
    routes = parse_routes(
        [
            {"match": {"sensitivity": "high"}, "endpoint": "local"},
            {"match": {"min_diff_lines": 2000}, "endpoint": "gpu1"},
            {"match": {"repo": "secret/*"}, "endpoint": "local"},
        ],
        set(clients),
    )
    router = Router(clients, "main", routes=routes)
    assert router.complete(MESSAGES, max_tokens=5).endpoint == "main"
    high = RouteHints(repo="group/app", sensitivity="high", diff_lines=5000)
    assert router.complete(MESSAGES, max_tokens=5, hints=high).endpoint == "local"
    big = RouteHints(repo="group/app", diff_lines=2000)
    assert router.complete(MESSAGES, max_tokens=5, hints=big).endpoint == "gpu1"
    assert router.concurrency_for(big) == 8
    assert (
        router.complete(MESSAGES, max_tokens=5, hints=RouteHints(repo="secret/x")).endpoint
        == "local"
    )
    assert router.concurrency == 1


def test_sensitive_route_does_not_fall_back_by_default(fake: FakeOpenAI) -> None:
    down = make(f"http://127.0.0.1:{free_port()}/v1", eid="local")
    clients = {"local": down, "gpu1": make(fake.url, eid="gpu1")}
    routes = parse_routes([{"match": {"sensitivity": "high"}, "endpoint": "local"}], set(clients))
    router = Router(clients, "gpu1", routes=routes, fallback="gpu1")
    assert router.choose(RouteHints(sensitivity="high")) == ("local", "")
    with pytest.raises(ModelUnavailable):
        router.complete(MESSAGES, max_tokens=5, hints=RouteHints(sensitivity="high"))
    assert fake.chat_count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        [{"match": {"sensitivity": "high"}, "endpoint": "nope"}],
        [{"match": {"colour": "red"}, "endpoint": "a"}],
        [{"match": {"min_diff_lines": "many"}, "endpoint": "a"}],
        [{"endpoint": "a", "fallback": "nope"}],
        [{"endpoint": "a", "priority": 1}],
    ],
)
def test_bad_routes_are_config_errors(raw: list[dict[str, object]]) -> None:
    with pytest.raises(ConfigError):
        parse_routes(raw, {"a"})


def test_router_rejects_unknown_default_and_fallback(fake: FakeOpenAI) -> None:
    clients = {"a": make(fake.url, eid="a")}
    with pytest.raises(ConfigError):
        Router(clients, "b")
    with pytest.raises(ConfigError):
        Router(clients, "a", fallback="b")


def test_a_metered_view_reports_usage_to_its_own_sink_and_shares_the_client(
    fake: FakeOpenAI,
) -> None:
    """The worker builds its router once and gives each job a metered view: each job's usage
    goes to that job's sink, over the same HTTP client and request slots."""
    shared: list[UsageRecord] = []
    router = Router({"e1": make(fake.url, usage=shared, concurrency=2)}, "e1")
    first: list[UsageRecord] = []
    second: list[UsageRecord] = []
    view1, view2 = router.metered(first.append), router.metered(second.append)
    view1.complete([ChatMessage("user", "hi")], max_tokens=5)
    view2.complete([ChatMessage("user", "hi")], max_tokens=5)
    view2.complete([ChatMessage("user", "hi")], max_tokens=5)
    assert (len(first), len(second), len(shared)) == (1, 2, 0)
    assert view1.clients["e1"]._http is router.clients["e1"]._http
    assert view1.clients["e1"]._slots is router.clients["e1"]._slots
    assert view1.context_for(None) == router.context_for(None) == 8192
    view1.close()  # a view owns nothing: the shared client stays open
    router.complete([ChatMessage("user", "hi")], max_tokens=5)
    assert len(shared) == 1
    router.close()
