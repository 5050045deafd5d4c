"""API tokens at the door: `Authorization: Bearer rvs_…` on /api/ only (never a dashboard
page), turned into a principal with the token's own roles.

The token is checked by its sha256 (the database holds no token). A token that names a real
token id but is wrong, revoked or expired is audited (`auth.token.refused`, with the id and
the reason, never the token); random strings are not, so a flood cannot fill the trail.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable

from revisor.audit import AuditLog, Event, Outcome
from revisor.errors import AuditWriteError
from revisor.store import api_tokens
from revisor.store.db import PerThread
from revisor.web.auth.sessions import Principal

API_PREFIX = "/api/"
_SHAPE = re.compile(r"rvs_(\d{1,12})_[A-Za-z0-9_-]{20,100}")


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for key, value in headers:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def principal_for_token(
    dbs: PerThread, audit: AuditLog, token: str, t: float, source: str
) -> Principal | None:
    db = dbs.get()
    found = api_tokens.check(db, token, t)
    if found is not None:
        return Principal(
            username=f"token:{found.id}:{found.name}",
            display_name=found.name,
            roles=found.roles,
            csrf="",
            session_hash="",
            via_token=True,
        )
    shape = _SHAPE.fullmatch(token)
    known = api_tokens.get(db, int(shape.group(1))) if shape else None
    if known is not None:
        reason = (
            "revoked"
            if known.revoked_at is not None
            else "expired"
            if t >= known.expires_at
            else "wrong secret"
        )
        with contextlib.suppress(AuditWriteError):  # refusing is what happens anyway
            audit.record(
                Event.TOKEN_REFUSED,
                actor=known.actor,
                target="api",
                outcome=Outcome.DENIED,
                source=source,
                reason=reason,
            )
    return None
