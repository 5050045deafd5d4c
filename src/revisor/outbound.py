"""What this appliance may reach, as configured right now: the egress allowlist read from the
settings and the database, and the health of the default model endpoint.

`configured_egress()` is the one place that gathers the allowlist's inputs (the Git servers an
admin allowed, the registered model endpoints) and hands them to `egress.allowlist_from()`;
the worker, the CLI and the web server all get their `Egress` here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlite_utils

from revisor.config import Settings
from revisor.egress import Egress, RefusalHook, allowlist_from
from revisor.llm.registry import default_endpoint_health
from revisor.secrets import KeyRing
from revisor.store import endpoints, servers


def configured_egress(
    settings: Settings,
    db: sqlite_utils.Database,
    *,
    on_refusal: RefusalHook | None = None,
    extra_urls: Iterable[str] = (),
) -> Egress:
    """The allowlist as configured right now (the Git servers admins allowed, model endpoints,
    LDAP, `[egress] allow`, the sidecar), plus `extra_urls` (a sidecar a command started)."""
    return allowlist_from(
        settings,
        servers.urls(db),
        [*endpoints.urls(db), *extra_urls],
        on_refusal=on_refusal,
    )


def model_health(
    settings: Settings,
    db: sqlite_utils.Database,
    keys: KeyRing,
    *,
    on_refusal: RefusalHook | None = None,
) -> dict[str, Any]:
    """Probe the default model endpoint (2 s timeout) for /readyz, `status` and `doctor`.
    Never raises."""
    try:
        registered = endpoints.with_keys(db, keys)
        egress = configured_egress(settings, db, on_refusal=on_refusal)
    except Exception as exc:  # a probe reports, it never raises
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}
    return default_endpoint_health(settings, registered, egress)
