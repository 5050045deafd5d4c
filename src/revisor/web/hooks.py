"""Webhook routes. The work is in `revisor.web.intake`; this only adapts Litestar to it.

Each repository has its own hook URL, `/hooks/<forge>/<hook_key>`: a delivery there is checked
against that repository's secret only. The legacy `/hooks/gitlab` and `/hooks/gitea` stay for
hooks registered before (each delivery there is checked against every repository of the forge).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio.to_thread
from litestar import Request, Response, post
from litestar.params import FromPath

from revisor.domain import ForgeKind
from revisor.web.client_address import client_address
from revisor.web.intake import Accepted, Answer, Rejected, WebhookIntake
from revisor.web.metrics_route import observe_webhook
from revisor.web.resources import Resources


async def _handle(
    request: Request[Any, Any, Any],
    intake: WebhookIntake,
    forge: ForgeKind,
    hook_key: str | None = None,
) -> Response[dict[str, Any]]:
    body = await request.body()
    request_id: str = request.state.request_id
    started, answer = time.perf_counter(), Answer(500)  # 500 if the handler raises
    try:
        # Checking is CPU work and reads: done right here. The write goes to the group commit,
        # awaited without tying up a thread; a rejection's audit write (if it has one: they are
        # summed per window) runs in a thread.
        checked = intake.check(
            forge,
            dict(request.headers),
            body,
            source=client_address(request),
            request_id=request_id,
            hook_key=hook_key,
        )
        if isinstance(checked, Accepted):
            result = await asyncio.wrap_future(intake.commit(checked))
            answer = intake.conclude(checked, result)
        elif isinstance(checked, Rejected):
            records = intake.rejections.note(checked)
            if records:
                await anyio.to_thread.run_sync(intake.write_audit, records)
            answer = intake.refusal(checked)
        else:
            answer = checked
    finally:
        observe_webhook(forge, answer, request_id, time.perf_counter() - started)
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


@post("/hooks/gitlab/{hook_key:str}", status_code=202, include_in_schema=False)
async def gitlab_repo_hook(
    request: Request[Any, Any, Any], resources: Resources, hook_key: FromPath[str]
) -> Response[dict[str, Any]]:
    return await _handle(request, resources.intake, ForgeKind.GITLAB, hook_key)


@post("/hooks/gitea/{hook_key:str}", status_code=202, include_in_schema=False)
async def gitea_repo_hook(
    request: Request[Any, Any, Any], resources: Resources, hook_key: FromPath[str]
) -> Response[dict[str, Any]]:
    """Gitea and Forgejo send the same payloads; Forgejo adds X-Forgejo-* headers."""
    return await _handle(request, resources.intake, ForgeKind.GITEA, hook_key)


@post("/hooks/gitlab", status_code=202, include_in_schema=False)
async def gitlab_hook(
    request: Request[Any, Any, Any], resources: Resources
) -> Response[dict[str, Any]]:
    """Legacy: one secret check per registered GitLab repository."""
    return await _handle(request, resources.intake, ForgeKind.GITLAB)


@post("/hooks/gitea", status_code=202, include_in_schema=False)
async def gitea_hook(
    request: Request[Any, Any, Any], resources: Resources
) -> Response[dict[str, Any]]:
    """Legacy: one secret check per registered Gitea/Forgejo repository."""
    return await _handle(request, resources.intake, ForgeKind.GITEA)


routes = [gitlab_repo_hook, gitea_repo_hook, gitlab_hook, gitea_hook]
