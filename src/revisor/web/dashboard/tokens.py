"""API tokens (admins): create one for a script or a monitor with the roles it needs and an
expiry, see it once, revoke it. Every creation and revocation is audited."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from revisor.audit import Event
from revisor.store import api_tokens
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import ADMIN, require
from revisor.web.dashboard.pages import FormData, page, source, who
from revisor.web.resources import Resources

DEFAULT_DAYS = 90


def _tokens_page(
    request: Request[Any, Any, Any], resources: Resources, *, status: int = 200, **extra: Any
) -> Template:
    return page(
        request,
        "tokens.html",
        status=status,
        tokens=api_tokens.list_all(resources.dbs.get()),
        grantable=sorted(api_tokens.GRANTABLE),
        max_days=api_tokens.MAX_DAYS,
        default_days=DEFAULT_DAYS,
        now=time.time(),
        **extra,
    )


@get("/settings/tokens", guards=[require(ADMIN)], sync_to_thread=True, include_in_schema=False)
def tokens_page(request: Request[Any, Any, Any], resources: Resources) -> Template:
    return _tokens_page(request, resources)


@post(
    "/settings/tokens/new",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def token_create(request: Request[Any, Any, Any], resources: Resources, data: FormData) -> Template:
    form = dict(data)
    roles = frozenset(r for r in api_tokens.GRANTABLE if form.get(f"role_{r}"))
    try:
        days = int(form.get("days") or DEFAULT_DAYS)
        token, plaintext = api_tokens.create(
            resources.dbs.get(),
            name=form.get("name", ""),
            roles=roles,
            days=days,
            created_by=who(request).actor,
        )
    except (api_tokens.TokenError, ValueError) as exc:
        return _tokens_page(
            request, resources, status=400, error=str(exc), typed=form, typed_roles=roles
        )
    resources.audit.record(
        Event.TOKEN_CREATED,
        actor=who(request).actor,
        target=token.actor,
        source=source(request),
        roles=sorted(token.roles),
        expires_at=token.expires_at,
        prefix=token.prefix,
    )
    return _tokens_page(request, resources, created=token, plaintext=plaintext)


@post(
    "/settings/tokens/{token_id:int}/revoke",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def token_revoke(
    request: Request[Any, Any, Any], resources: Resources, token_id: FromPath[int]
) -> Template:
    db = resources.dbs.get()
    token = api_tokens.get(db, token_id)
    if token is None:
        raise NotFoundException(f"no API token {token_id}")
    actor = who(request).actor
    resources.audit.record(
        Event.TOKEN_REVOKED, actor=actor, target=token.actor, source=source(request)
    )
    changed = api_tokens.revoke(db, token_id, by=actor)
    message = f"Token {token.name} revoked." if changed else f"Token {token.name} was revoked."
    return _tokens_page(request, resources, message=message)


routes = [tokens_page, token_create, token_revoke]
