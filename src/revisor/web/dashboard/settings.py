"""The settings page (admins): the effective configuration, the users, the break-glass admin."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from revisor.audit import Event
from revisor.config import Settings
from revisor.web.auth import local
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import ADMIN, require
from revisor.web.auth.routes import SettingsDep
from revisor.web.dashboard.pages import fmt_time, page, source, who
from revisor.web.resources import Audit, Dbs


def effective_settings(settings: Settings) -> dict[str, Any]:
    """The configuration as loaded. It holds no secret values: secrets live in files named
    by `*_file` settings or sealed in the database, so showing the paths is safe."""
    out = dataclasses.asdict(settings)
    out["data_dir"] = str(settings.data_dir)
    return out


@get("/settings", guards=[require(ADMIN)], sync_to_thread=True, include_in_schema=False)
def settings_page(request: Request[Any, Any, Any], settings: SettingsDep, dbs: Dbs) -> Template:
    db = dbs.get()
    return page(
        request,
        "settings.html",
        settings_json=json.dumps(
            effective_settings(settings), indent=2, sort_keys=True, default=str
        ),
        break_glass=local.break_glass_enabled(db),
        users=list(
            db.query(
                "SELECT username, source, roles, disabled, last_login_at FROM users"
                " ORDER BY username"
            )
        ),
        fmt_time=fmt_time,
    )


@post(
    "/settings/break-glass/disable",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=303,
)
def disable_break_glass(request: Request[Any, Any, Any], audit: Audit, dbs: Dbs) -> Redirect:
    audit.record(
        Event.CONFIG_CHANGED,
        actor=who(request).actor,
        target=f"user:local:{local.BREAK_GLASS_USER}",
        source=source(request),
        change="break-glass admin disabled",
    )
    local.disable_break_glass(dbs.get())
    return Redirect("/settings", status_code=303)


routes = [settings_page, disable_break_glass]
