"""Shared helpers for the dashboard/auth tests: an app over a real data dir, a fake directory,
signed-in clients for each role."""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient

from revisor import config
from revisor.cli.core import init_data_dir
from revisor.store.db import PerThread
from revisor.web.app import create_app
from revisor.web.auth import sessions
from revisor.web.auth.ldap import InvalidCredentials, LdapUnavailable, LdapUser

ROLES = ("admin", "maintainer", "auditor", "viewer")
PASSWORD = "correct horse battery staple"


@dataclass
class FakeDirectory:
    """Stands in for LDAP: user `<role>-user` has that role; `norole` has none."""

    down: bool = False
    calls: list[str] = field(default_factory=list)

    def authenticate(self, username: str, password: str) -> LdapUser:
        self.calls.append(username)
        if self.down:
            raise LdapUnavailable("no LDAP server could be reached: ldaps://ldap1:636: timed out")
        if not password:
            raise InvalidCredentials("empty password")
        roles = {f"{r}-user": frozenset({r}) for r in ROLES} | {"norole": frozenset()}
        if username not in roles:
            raise InvalidCredentials("unknown user")
        if password != PASSWORD:
            raise InvalidCredentials("bind refused: invalidCredentials", user_found=True)
        return LdapUser(
            dn=f"uid={username},ou=people,dc=example,dc=org",
            username=username,
            display_name=username.title(),
            groups=frozenset(),
            roles=roles[username],
        )


def settings_for(tmp: Path, **auth: object) -> config.Settings:
    return init_settings(tmp, **auth)[0]


def init_settings(tmp: Path, **auth: object) -> tuple[config.Settings, str | None]:
    """An initialised data dir with LDAP on; also returns the break-glass admin's password."""
    settings = config.load(tmp / "data", environ={})
    created = init_data_dir(settings)
    return dataclasses.replace(
        settings,
        ldap=dataclasses.replace(settings.ldap, enabled=True),
        auth=dataclasses.replace(settings.auth, **auth),  # type: ignore[arg-type]
    ), created.get("admin_password")


def make_app(settings: config.Settings, directory: FakeDirectory | None = None) -> Litestar:
    return create_app(settings, authenticator=directory or FakeDirectory())


def session_cookie(settings: config.Settings, role: str) -> tuple[str, str]:
    """Start a session for `role` straight in the database; returns (cookie value, csrf)."""
    dbs = PerThread(settings.db_path)
    try:
        sid, principal = sessions.create(
            dbs.get(),
            username=f"ldap:{role}-user",
            display_name=role.title(),
            roles=frozenset({role}),
            source="127.0.0.1",
            t=time.time(),
        )
    finally:
        dbs.close()
    return sid, principal.csrf


def client_as(
    app: Litestar, settings: config.Settings, role: str | None
) -> tuple[TestClient[Litestar], str]:
    """A TestClient signed in as `role` (None: anonymous) and its CSRF token."""
    client = TestClient(app)
    csrf = ""
    if role is not None:
        sid, csrf = session_cookie(settings, role)
        client.cookies.set(sessions.COOKIE, sid, domain="testserver.local")
    return client, csrf


def login_token(client: TestClient[Litestar]) -> str:
    page = client.get("/login")
    match = re.search(r'name="_csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def login(client: TestClient[Litestar], username: str, password: str, next_: str = "/"):  # type: ignore[no-untyped-def]
    token = login_token(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "_csrf": token, "next": next_},
        follow_redirects=False,
    )
