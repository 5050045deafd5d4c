"""Structured output: the findings schema, and which mode each engine is asked for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from revisor import config
from revisor.config import ModelSettings
from revisor.domain import ChatMessage
from revisor.egress import Egress
from revisor.errors import ConfigError
from revisor.llm import registry
from revisor.llm.schema import FINDINGS_SCHEMA, structured_output_for
from revisor.review.parse import parse_output
from tests.llm.fake_openai import FakeOpenAI


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(model="smol", api_key="sk-side") as server:
        yield server


@pytest.mark.parametrize(
    ("engine", "setting", "mode"),
    [
        ("vllm", "auto", "json_schema"),
        ("llama.cpp", "auto", "json_schema"),
        ("", "auto", "json_object"),  # an external endpoint of unknown engine
        ("vllm", "json_object", "json_object"),  # the admin's choice wins
        ("llama.cpp", "json_schema", "json_schema"),
    ],
)
def test_one_function_picks_the_mode_per_engine(engine: str, setting: str, mode: str) -> None:
    assert structured_output_for(engine, setting) == mode


def test_an_unknown_setting_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"structured_output .*'yaml'"):
        structured_output_for("vllm", "yaml")


def test_the_default_setting_is_auto() -> None:
    assert ModelSettings().structured_output == "auto"


def test_an_answer_in_the_schema_parses_into_every_field() -> None:
    """What the schema lets the engine write is what review/parse.py reads, field by field."""
    item = {
        "path": "app.py", "line": 3, "code": "eval(x)", "side": "new", "severity": "major",
        "title": "eval",
        "body": "eval of user input", "suggestion": "    ast.literal_eval(x)",
        "suggestion_start_line": 3, "suggestion_end_line": 3,
    }  # fmt: skip
    items = FINDINGS_SCHEMA["properties"]["findings"]["items"]
    assert set(item) == set(items["properties"])
    found = parse_output(json.dumps({"findings": [item]})).findings[0]
    assert (found.path, found.line, found.side, found.title) == ("app.py", 3, "new", "eval")
    assert found.code == "eval(x)"
    assert found.severity.name == "MAJOR"
    assert found.suggestion == item["suggestion"]
    assert (found.suggestion_first, found.suggestion_last) == (3, 3)


@pytest.mark.parametrize(
    ("engine", "setting", "expected"),
    [
        ("vllm", "auto", {"type": "json_schema", "json_schema": {"name": "review", "strict": True,
                                                                 "schema": FINDINGS_SCHEMA}}),
        ("llama.cpp", "auto", {"type": "json_object", "schema": FINDINGS_SCHEMA}),
        ("llama.cpp", "json_object", {"type": "json_object"}),
    ],
)  # fmt: skip
def test_the_router_asks_each_engine_for_its_mode(
    tmp_path: Path, fake: FakeOpenAI, engine: str, setting: str, expected: dict[str, object]
) -> None:
    settings = config.Settings(
        data_dir=tmp_path,
        model=ModelSettings(engine=engine, default_model="smol", structured_output=setting),
    )
    at = registry.SidecarAt(url=fake.url, api_key="sk-side")
    found = registry.select_endpoints(settings, [], sidecar=at)
    router = registry.build_router(settings, found, Egress.from_urls([fake.url]))
    try:
        router.complete([ChatMessage("user", "review")], max_tokens=5)
    finally:
        router.close()
    assert fake.last_body()["response_format"] == json.loads(json.dumps(expected))


@pytest.mark.parametrize(("seed", "sent"), [(0, 0), (42, 42), (-1, None)])
def test_the_seed_setting_reaches_every_request(
    tmp_path: Path, fake: FakeOpenAI, seed: int, sent: int | None
) -> None:
    settings = config.Settings(
        data_dir=tmp_path, model=ModelSettings(default_model="smol", seed=seed)
    )
    at = registry.SidecarAt(url=fake.url, api_key="sk-side")
    router = registry.build_router(
        settings, registry.select_endpoints(settings, [], sidecar=at), Egress.from_urls([fake.url])
    )
    try:
        router.complete([ChatMessage("user", "review")], max_tokens=5)
    finally:
        router.close()
    assert fake.last_body().get("seed") == sent
