"""LDAP down during sign-in, through the real `revisor serve`: the directory (a real slapd from
`tests.ldap.slapd`) works, is stopped, and comes back on the same ports.

While it is down a directory user gets a page that says the directory is unavailable (not a 500,
not "wrong password"), the failure is audited with that reason and without the password, and the
break-glass admin still gets in; once slapd is back a directory user signs in again.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ldap.slapd import (
    GROUP_ROLES,
    PASSWORDS,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SUFFIX,
    Slapd,
    ensure_tools,
    start_slapd,
)
from tests.reliability.harness import Server, revisor_cmd, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.ldap]

UNAVAILABLE = "Sign-in is unavailable: the directory cannot be reached"
WRONG_PASSWORD = "Invalid username or password"


@dataclass
class Site:
    server: Server
    data_dir: Path
    admin_password: str


def _write_config(root: Path, slapd: Slapd) -> Path:
    data_dir = root / "data"
    data_dir.mkdir(mode=0o700)
    bind_pw = root / "ldap-bind.pw"
    bind_pw.write_text(SERVICE_PASSWORD)
    bind_pw.chmod(0o600)
    roles = "".join(f'"{dn}" = "{role}"\n' for dn, role in GROUP_ROLES.items())
    (data_dir / "revisor.toml").write_text(
        f"""
[ldap]
enabled = true
servers = ["{slapd.ldaps_url}"]
ca_file = "{slapd.pki.ca_file}"
bind_dn = "{SERVICE_DN}"
bind_password_file = "{bind_pw}"
user_base = "ou=people,{SUFFIX}"
group_base = "ou=groups,{SUFFIX}"
connect_timeout_seconds = 2.0
receive_timeout_seconds = 5.0

[ldap.group_roles]
{roles}"""
    )
    return data_dir


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Slapd]:
    """Our own slapd (the session one in tests/ldap is shared and must not be stopped)."""
    reason = ensure_tools()
    if reason:
        pytest.skip(reason)
    slapd = start_slapd(tmp_path / "slapd")
    yield slapd
    slapd.stop()


@pytest.fixture
def site(tmp_path: Path, directory: Slapd) -> Iterator[Site]:
    data_dir = _write_config(tmp_path, directory)
    init = subprocess.run(
        [*revisor_cmd(data_dir, "init"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    admin_password = json.loads(init.stdout)["admin_password"]
    server = Server(data_dir, tmp_path)
    server.start()
    yield Site(server, data_dir, admin_password)
    server.stop()


def sign_in(url: str, username: str, password: str) -> httpx.Response:
    """The login form as a browser submits it: GET for the CSRF token and cookie, then POST."""
    with httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/login")
        match = re.search(r'name="_csrf" value="([^"]+)"', page.text)
        assert match, page.text
        return client.post(
            "/login",
            data={"username": username, "password": password, "_csrf": match.group(1)},
            follow_redirects=False,
        )


def signed_in(response: httpx.Response) -> bool:
    return response.status_code in (302, 303) and "revisor_session" in "".join(
        response.headers.get_list("set-cookie")
    )


def audit_records(data_dir: Path, event: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{data_dir / 'audit.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT actor, outcome, details FROM audit WHERE event = ? ORDER BY seq", [event]
        ).fetchall()
    return [{"actor": a, "outcome": o, "details": json.loads(d)} for a, o, d in rows]


def restart(slapd: Slapd) -> None:
    """Start slapd again with the same config, database and ports (the directory comes back)."""
    slapd.process = subprocess.Popen(
        slapd.process.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    port = int(slapd.ldaps_url.rsplit(":", 1)[1])

    def listening() -> bool:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        return False

    wait_for("slapd to listen again", listening, timeout=20)


def test_ldap_down_during_sign_in_then_back(site: Site, directory: Slapd) -> None:
    url = site.server.url
    # The configuration is right: with the directory up, a directory user gets in.
    assert signed_in(sign_in(url, "bob", PASSWORDS["bob"]))

    directory.stop()
    down = sign_in(url, "alice", PASSWORDS["alice"])
    assert down.status_code < 500, down.text
    assert not signed_in(down)
    assert UNAVAILABLE in down.text
    assert WRONG_PASSWORD not in down.text

    failed = audit_records(site.data_dir, "auth.signin.failed")
    # alice never signed in and the directory cannot vouch for the name: it could be a password
    # typed into the wrong field, so only its keyed hash is recorded (web/auth/usernames.py)
    assert [r["actor"] for r in failed] == ["anonymous"]
    assert len(failed[0]["details"]["username_hmac"]) == 24
    assert "alice" not in json.dumps(failed), failed
    reason = failed[0]["details"]["reason"]
    assert reason.startswith("directory unavailable:"), reason
    assert "could be reached" in reason or "unreachable" in reason, reason
    assert PASSWORDS["alice"] not in json.dumps(failed), failed
    assert SERVICE_PASSWORD not in json.dumps(failed), failed

    # The break-glass admin does not depend on the directory.
    assert signed_in(sign_in(url, "admin", site.admin_password))

    restart(directory)
    back = sign_in(url, "alice", PASSWORDS["alice"])
    assert signed_in(back), back.text
    succeeded = audit_records(site.data_dir, "auth.signin.succeeded")
    assert [r["actor"] for r in succeeded] == [
        "user:ldap:bob",
        "user:local:admin",
        "user:ldap:alice",
    ]
    assert succeeded[-1]["details"]["roles"] == ["admin"]
