"""The settings page (admins): the effective configuration, the users, the break-glass admin."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from revisor.audit import Event, Outcome
from revisor.config import Settings
from revisor.errors import RevisorError
from revisor.web.auth import local
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import ADMIN, require
from revisor.web.auth.ldap import NoRole
from revisor.web.auth.routes import AuthContext, SettingsDep
from revisor.web.dashboard.pages import FormData, fmt_time, page, source, who
from revisor.web.resources import Dbs, Resources

CONFIRM_PHRASE = "disable break-glass"


def effective_settings(settings: Settings) -> dict[str, Any]:
    """The configuration as loaded. It holds no secret values: secrets live in files named
    by `*_file` settings or sealed in the database, so showing the paths is safe."""
    out = dataclasses.asdict(settings)
    out["data_dir"] = str(settings.data_dir)
    return out


def settings_sections(config: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The configuration as sections of name/value pairs, for a person to read: top-level
    values first ("general"), then one section per table; lists and nested tables compact."""

    def shown(value: Any) -> str:
        if isinstance(value, list | tuple) and all(not isinstance(v, dict) for v in value):
            return ", ".join(str(v) for v in value) or "—"
        if isinstance(value, dict | list | tuple):
            return json.dumps(value, sort_keys=True, default=str)
        return "—" if value in (None, "") else str(value)

    general = [(k, shown(v)) for k, v in sorted(config.items()) if not isinstance(v, dict)]
    sections = [("general", general)] if general else []
    for name, table in sorted(config.items()):
        if isinstance(table, dict):
            sections.append((name, [(k, shown(v)) for k, v in sorted(table.items())]))
    return sections


def _settings_page(
    request: Request[Any, Any, Any],
    settings: Settings,
    dbs: Any,
    *,
    error: str = "",
    typed_user: str = "",
    status: int = 200,
) -> Template:
    db = dbs.get()
    return page(
        request,
        "settings.html",
        status=status,
        settings_sections=settings_sections(effective_settings(settings)),
        break_glass=local.break_glass_enabled(db),
        ldap_enabled=settings.ldap.enabled,
        confirm_phrase=CONFIRM_PHRASE,
        bg_error=error,
        typed_user=typed_user,
        users=list(
            db.query(
                "SELECT username, source, roles, disabled, last_login_at FROM users"
                " ORDER BY username"
            )
        ),
        fmt_time=fmt_time,
    )


@get("/settings", guards=[require(ADMIN)], sync_to_thread=True, include_in_schema=False)
def settings_page(request: Request[Any, Any, Any], settings: SettingsDep, dbs: Dbs) -> Template:
    return _settings_page(request, settings, dbs)


def ldap_admin_check(auth: AuthContext, username: str, password: str) -> str:
    """Why an LDAP admin could NOT sign in with these credentials now; "" when one can. The
    break-glass admin may only be disabled once this is "": otherwise nobody could sign in."""
    if not auth.settings.ldap.enabled or auth.authenticator is None:
        return (
            "LDAP sign-in is not enabled: nobody could sign in once the break-glass admin is off."
        )
    if not username or not password:
        return "Enter the username and password of an LDAP account with the admin role."
    try:
        user = auth.authenticator.authenticate(username, password)
    except NoRole:
        return f"{username} signed in to LDAP but no group maps to a role."
    except RevisorError as exc:
        return f"The LDAP check failed: {exc}."
    if "admin" not in user.roles:
        return f"{username} signed in to LDAP but does not have the admin role."
    return ""


@post(
    "/settings/break-glass/disable",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=303,
)
def disable_break_glass(
    request: Request[Any, Any, Any], resources: Resources, data: FormData
) -> Redirect | Template:
    """Disable the break-glass admin, only after the admin typed the confirmation phrase and an
    LDAP account with the admin role was checked against the directory just now."""
    username = data.get("ldap_username", "").strip()[:256]
    if data.get("confirm", "").strip().lower() != CONFIRM_PHRASE:
        problem = f'Type "{CONFIRM_PHRASE}" to confirm.'
    else:
        problem = ldap_admin_check(resources.auth, username, data.get("ldap_password", ""))
    target = f"user:local:{local.BREAK_GLASS_USER}"
    if problem:
        resources.audit.record(
            Event.CONFIG_CHANGED,
            actor=who(request).actor,
            target=target,
            outcome=Outcome.FAILURE,
            source=source(request),
            change="break-glass admin disable refused",
            reason=problem,
        )
        return _settings_page(
            request,
            resources.settings,
            resources.dbs,
            error=problem,
            typed_user=username,
            status=409,
        )
    resources.audit.record(
        Event.CONFIG_CHANGED,
        actor=who(request).actor,
        target=target,
        source=source(request),
        change="break-glass admin disabled",
        checked_ldap_admin=f"ldap:{username.lower()}",
    )
    local.disable_break_glass(resources.dbs.get())
    return Redirect("/settings", status_code=303)


routes = [settings_page, disable_break_glass]
