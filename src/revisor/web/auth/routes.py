"""Sign-in and sign-out routes, and `sign_in()`, the synchronous core they run in a thread."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import anyio.to_thread
import sqlite_utils
from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, SkipValidation
from litestar.response import Redirect, Template

from revisor.audit import AuditLog, Event, Outcome
from revisor.config import Settings
from revisor.errors import AuditWriteError, RevisorError
from revisor.store.db import PerThread
from revisor.web.auth import csrf, local, sessions, throttle, usernames
from revisor.web.auth.guards import principal_of
from revisor.web.auth.ldap import InvalidCredentials, LdapUser, NoRole
from revisor.web.client_address import client_address

log = logging.getLogger("revisor.web.auth")

GENERIC_FAILURE = "Invalid username or password."


class Authenticator(Protocol):
    def authenticate(self, username: str, password: str) -> LdapUser: ...


@dataclass
class AuthContext:
    """What the sign-in needs; part of the web resources, handed to the routes as `auth`."""

    settings: Settings
    dbs: PerThread
    audit: AuditLog
    authenticator: Authenticator | None
    name_key: bytes  # usernames.hash_key(): for the keyed hash of unknown usernames
    clock: Callable[[], float] = field(default=time.time)


# The routes receive these by name (`web/resources.py` provides them; nothing to validate).
AuthDep = NamedDependency[SkipValidation[AuthContext]]
SettingsDep = NamedDependency[SkipValidation[Settings]]


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    principal: sessions.Principal


def sign_in(
    ctx: AuthContext, username: str, password: str, *, address: str, replaces: str | None
) -> SignedIn | str:
    """Check the credentials; on success record the user and start a new session.

    Returns the new session, or the message to show. Every outcome is audited; if the audit
    record cannot be written the sign-in is refused (fail closed).
    """
    db = ctx.dbs.get()
    t = ctx.clock()
    name = username.strip()[:256]
    key = name.lower()
    hashed = usernames.digest(ctx.name_key, key)  # what the throttle counts by

    def fail(
        reason: str, message: str = GENERIC_FAILURE, *, count: bool = True, found: bool = False
    ) -> str:
        if count:
            throttle.record(db, hashed, address, False, t)
        known = found or usernames.seen_before(db, key)
        actor, details = usernames.failed_actor(key, known=known, hash_key=ctx.name_key)
        try:
            ctx.audit.record(
                Event.SIGNIN_FAILED,
                actor=actor,
                target="dashboard",
                outcome=Outcome.FAILURE,
                source=address,
                reason=reason,
                **details,
            )
        except AuditWriteError:
            log.error("audit write failed for a failed sign-in")
        return message

    verdict = throttle.check(db, ctx.settings.auth, hashed, address, t)
    if not verdict.allowed:
        wait = max(1, round(verdict.retry_after))
        return fail(
            verdict.reason,
            f"Too many failed sign-ins. Try again in {wait} seconds.",
            count=False,
        )
    if not name or not password:
        return fail("empty username or password")
    try:
        if key == local.BREAK_GLASS_USER and local.break_glass_enabled(db):
            if not local.verify_local(db, key, password):
                raise InvalidCredentials("wrong password (local account)", user_found=True)
            qualified, display, roles = f"local:{key}", "Break-glass admin", frozenset({"admin"})
        elif ctx.authenticator is not None and ctx.settings.ldap.enabled:
            user = ctx.authenticator.authenticate(name, password)
            if not user.roles:
                raise NoRole("no group of this user maps to a role")
            qualified, display, roles = f"ldap:{key}", user.display_name, user.roles
        else:
            raise InvalidCredentials("no such local account and LDAP is not enabled")
    except InvalidCredentials as exc:
        return fail(exc.reason, found=exc.user_found)
    except NoRole as exc:
        return fail(
            str(exc), "Your account has no role in Revisor. Ask an admin for access.", found=True
        )
    except RevisorError as exc:  # directory down, misconfigured, egress refused
        log.error("a sign-in could not reach the directory: %s", exc)
        return fail(
            f"directory unavailable: {exc}",
            "Sign-in is unavailable: the directory cannot be reached. Admins: see the log.",
            count=False,
        )
    throttle.record(db, hashed, address, True, t)
    try:
        granted = _remember_user(db, qualified, display, roles, t)
        for role in sorted(granted):
            ctx.audit.record(
                Event.ROLE_GRANTED,
                actor="system:auth",
                target=f"user:{qualified}",
                source=address,
                role=role,
            )
        ctx.audit.record(
            Event.SIGNIN_SUCCEEDED,
            actor=f"user:{qualified}",
            target="dashboard",
            source=address,
            roles=sorted(roles),
        )
    except AuditWriteError:
        log.error("audit write failed; refusing the sign-in of %s", qualified)
        return "Sign-in is unavailable: the audit log cannot be written."
    session_id, principal = sessions.create(
        db,
        username=qualified,
        display_name=display,
        roles=roles,
        source=address,
        t=t,
        replaces=replaces,
    )
    return SignedIn(session_id, principal)


def _remember_user(
    db: sqlite_utils.Database, qualified: str, display: str, roles: frozenset[str], t: float
) -> frozenset[str]:
    """Upsert the user row; return the roles the user did not have at the previous sign-in."""
    source, _, name = qualified.partition(":")
    username = name if source == "local" else qualified
    row = db.execute("SELECT roles FROM users WHERE username = ?", [username]).fetchone()
    before = frozenset(filter(None, row[0].split(","))) if row else frozenset()
    with db.conn:
        if row is None:
            db.execute(
                "INSERT INTO users (username, source, display_name, roles, created_at,"
                " last_login_at) VALUES (?, ?, ?, ?, ?, ?)",
                [username, source, display, ",".join(sorted(roles)), t, t],
            )
        else:
            db.execute(
                "UPDATE users SET display_name = ?, roles = ?, last_login_at = ?"
                " WHERE username = ?",
                [display, ",".join(sorted(roles)), t, username],
            )
    return roles - before


# --- routes ----------------------------------------------------------------------------------


def session_cookie(settings: Settings, value: str, *, expire: bool = False) -> Cookie:
    return Cookie(
        key=sessions.COOKIE,
        value=value,
        path="/",
        httponly=True,
        secure=settings.cookies_secure,
        samesite="strict",
        max_age=0 if expire else None,
    )


def login_cookie(settings: Settings, value: str, *, expire: bool = False) -> Cookie:
    return Cookie(
        key=csrf.LOGIN_COOKIE,
        value=value,
        path="/login",
        httponly=True,
        secure=settings.cookies_secure,
        samesite="strict",
        max_age=0 if expire else 3600,
    )


def safe_next(value: str | None) -> str:
    """Only same-site paths: `//evil.example` or `https://...` would be an open redirect."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def _login_page(
    request: Request[Any, Any, Any], settings: Settings, *, error: str = "", status: int = 200
) -> Template:
    token = request.cookies.get(csrf.LOGIN_COOKIE) or csrf.new_token()
    return Template(
        template_name="login.html",
        context={
            "login_csrf": token,
            "error": error,
            "next": safe_next(request.query_params.get("next")),
            "ldap_enabled": settings.ldap.enabled,
            "principal": None,
        },
        status_code=status,
        cookies=[login_cookie(settings, token)],
    )


@get("/login", include_in_schema=False)
async def login_form(request: Request[Any, Any, Any], settings: SettingsDep) -> Template | Redirect:
    if principal_of(request) is not None:
        return Redirect("/", status_code=303)
    return _login_page(request, settings)


@post("/login", include_in_schema=False, status_code=303)
async def login_submit(
    request: Request[Any, Any, Any],
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    auth: AuthDep,
) -> Template | Redirect:
    ctx = auth
    if not csrf.tokens_match(request.cookies.get(csrf.LOGIN_COOKIE, ""), data.get(csrf.FIELD)):
        return _login_page(
            request, ctx.settings, error="The form expired; please try again.", status=403
        )
    address = client_address(request)
    old = request.cookies.get(sessions.COOKIE)
    result = await anyio.to_thread.run_sync(
        lambda: sign_in(
            ctx, data.get("username", ""), data.get("password", ""), address=address, replaces=old
        )
    )
    if isinstance(result, str):
        return _login_page(request, ctx.settings, error=result, status=401)
    return Redirect(
        safe_next(data.get("next")),
        status_code=303,
        cookies=[
            session_cookie(ctx.settings, result.session_id),
            login_cookie(ctx.settings, "", expire=True),
        ],
    )


@post("/logout", include_in_schema=False, status_code=303, guards=[csrf.csrf_guard])
async def logout(request: Request[Any, Any, Any], auth: AuthDep) -> Redirect:
    ctx = auth
    principal = principal_of(request)
    if principal is not None:
        address = client_address(request)

        def end() -> None:
            sessions.destroy(ctx.dbs.get(), principal.session_hash)
            try:
                ctx.audit.record(
                    Event.SIGNOUT, actor=principal.actor, target="dashboard", source=address
                )
            except AuditWriteError:
                log.error("audit write failed for a sign-out")

        await anyio.to_thread.run_sync(end)
    return Redirect(
        "/login", status_code=303, cookies=[session_cookie(ctx.settings, "", expire=True)]
    )


routes = [login_form, login_submit, logout]
