"""Webhook routes. The work is in `revisor.web.intake`; this only adapts Litestar to it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio.to_thread
from litestar import Request, Response, post

from revisor.domain import ForgeKind
from revisor.web.client_address import client_address
from revisor.web.intake import Accepted, Answer, Intake, Rejected
from revisor.web.metrics import observe_webhook


async def _handle(request: Request[Any, Any, Any], forge: ForgeKind) -> Response[dict[str, Any]]:
    intake: Intake = request.app.state.intake
    body = await request.body()
    request_id: str = request.state.request_id
    source = client_address(request)
    started, answer = time.perf_counter(), Answer(500)  # 500 if the handler raises
    try:
        # Checking is CPU work and reads: done right here. The write goes to the group commit,
        # awaited without tying up a thread; a rejection's audit write runs in a thread.
        checked = intake.check(
            forge, dict(request.headers), body, source=source, request_id=request_id
        )
        if isinstance(checked, Accepted):
            result = await asyncio.wrap_future(intake.commit(checked))
            answer = intake.conclude(checked, result)
        elif isinstance(checked, Rejected):
            answer = await anyio.to_thread.run_sync(intake.reject, checked)
        else:
            answer = checked
    finally:
        observe_webhook(forge, answer, request_id, time.perf_counter() - started)
    return Response(answer.body, status_code=answer.status)


@post("/hooks/gitlab", status_code=202, include_in_schema=False)
async def gitlab_hook(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    return await _handle(request, ForgeKind.GITLAB)


@post("/hooks/gitea", status_code=202, include_in_schema=False)
async def gitea_hook(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Gitea and Forgejo send the same payloads; Forgejo adds X-Forgejo-* headers."""
    return await _handle(request, ForgeKind.GITEA)


routes = [gitlab_hook, gitea_hook]
