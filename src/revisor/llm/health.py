"""The endpoint health probe: the one check of "does this model endpoint answer?".

Used by /readyz, `revisor status`, `revisor doctor`, `revisor model add/list` and the sidecar's
start-up wait (`inference/sidecar.py`). The dashboard's "test" button sends a real prompt
instead (`web/dashboard/model_probe.py`): a listed model can still fail to answer.
"""

from __future__ import annotations

from typing import Any

from revisor.egress import Egress
from revisor.errors import RevisorError
from revisor.llm.client import Endpoint, EndpointClient


def probe_endpoint(endpoint: Endpoint, egress: Egress, *, timeout: float = 3.0) -> dict[str, Any]:
    """The endpoint health probe: `GET /models` with the endpoint's key, through `egress`.

    {"ok", "detail", "models"}: ok when the endpoint answers an OpenAI-style model list that
    includes `endpoint.model` (any model, for an empty one: a sidecar starting up). Never
    raises: a refused host, a refused key or a dead endpoint is a detail.
    """
    try:
        client = EndpointClient(endpoint, egress)
    except RevisorError as exc:
        return {"ok": False, "detail": str(exc), "models": []}
    try:
        return _judge(client, timeout)
    finally:
        client.close()


def _judge(client: EndpointClient, timeout: float) -> dict[str, Any]:
    try:
        served = client.models(timeout=timeout)
    except RevisorError as exc:
        return {"ok": False, "detail": str(exc), "models": []}
    model = client.endpoint.model
    if model and model not in served:
        detail = f"reachable, but does not serve {model!r} (serves: {', '.join(served)})"
        return {"ok": False, "detail": detail, "models": served}
    return {"ok": True, "detail": "ok", "models": served}
