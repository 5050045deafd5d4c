"""The models page: the endpoints, their health and usage, and each endpoint's "Test" button."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from revisor.audit import Event, Outcome
from revisor.config import ModelSettings
from revisor.errors import ConfigError
from revisor.llm.registry import LOCAL_ID, SidecarChoice, select_endpoints, sidecar_endpoint
from revisor.llm.schema import structured_output_for
from revisor.store import endpoints
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import ADMIN, READ, require
from revisor.web.dashboard import health_view, model_probe, queries
from revisor.web.dashboard.pages import page, source, who
from revisor.web.resources import Resources


def _models_page(request: Request[Any, Any, Any], resources: Resources, **extra: Any) -> Template:
    settings = resources.settings
    db = resources.dbs.get()
    model_health = resources.model_health
    configured = [
        {
            "id": e.id,
            "url": e.url,
            "model": e.model,
            "max_concurrency": e.max_concurrency,
            "context_tokens": e.context_tokens,
            "default": False,
            "source": "revisor.toml",
            "has_api_key": bool(e.api_key_file),
        }
        for e in settings.model.endpoints
    ]
    probe = model_health() if model_health else None
    counts = health_view.call_counts(db, time.time() - health_view.HOUR)
    all_endpoints = [*configured, *queries.model_endpoints(db)]
    return page(
        request,
        "models.html",
        sidecar=settings.model,
        sidecar_structured_output=_structured_output(settings.model),
        local_id=LOCAL_ID,
        endpoints=all_endpoints,
        routes=settings.model.routes,
        # each card and row shows its own endpoint's health, never the default's
        sidecar_health=health_view.health_of(LOCAL_ID, probe, counts),
        health={e["id"]: health_view.health_of(e["id"], probe, counts) for e in all_endpoints},
        usage=queries.model_usage(db, time.time() - queries.DAY),
        **extra,
    )


def _structured_output(model: ModelSettings) -> str:
    """The mode the sidecar is asked for, as the worker picks it; the setting if it is wrong."""
    setting = model.structured_output
    try:
        mode = structured_output_for(model.engine, setting)
    except ConfigError:
        return f"{setting} (not a valid setting)"
    return f"{mode} (auto, per engine)" if setting == "auto" else mode


@get("/models", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def models_page(request: Request[Any, Any, Any], resources: Resources) -> Template:
    return _models_page(request, resources)


@post(
    "/models/{endpoint_id:str}/test",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def model_test(
    request: Request[Any, Any, Any], resources: Resources, endpoint_id: FromPath[str]
) -> Template:
    """Send the appliance's fixed test prompt to this one endpoint (admins: it costs model
    time). The audit record has the tokens and the outcome, never the answer."""
    settings = resources.settings
    actor = who(request).actor
    db = resources.dbs.get()
    known = {e.id for e in settings.model.endpoints} | {LOCAL_ID}
    if endpoint_id not in known | {e["id"] for e in queries.model_endpoints(db)}:
        raise NotFoundException(f"no model endpoint {endpoint_id!r}")
    try:
        sidecar: SidecarChoice = sidecar_endpoint(settings) if endpoint_id == LOCAL_ID else "never"
        found = select_endpoints(settings, endpoints.with_keys(db, resources.keys), sidecar=sidecar)
        result = model_probe.probe(found.endpoints[endpoint_id], resources.egress(actor))
    except ConfigError as exc:
        result = model_probe.ProbeResult(endpoint_id, ok=False, latency_ms=0, error=str(exc))
    resources.audit.record(
        Event.MODEL_REQUEST,
        actor=actor,
        target=f"model:{endpoint_id}",
        outcome=Outcome.SUCCESS if result.ok else Outcome.FAILURE,
        source=source(request),
        purpose="test prompt",
        endpoint=endpoint_id,
        model=result.model,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        latency_ms=result.latency_ms,
        error=result.error[:200],
    )
    if request.headers.get("hx-request"):  # htmx: only the endpoint's test cell
        return page(request, "_model_probe.html", eid=endpoint_id, probe=result)
    return _models_page(request, resources, probe=result)


routes = [models_page, model_test]
