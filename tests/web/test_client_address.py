"""X-Forwarded-For is believed only from a trusted proxy, and read from the right."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from revisor.audit import AuditLog
from revisor.config import WebSettings
from revisor.errors import ConfigError
from revisor.web.client_address import parse_networks, proxy_headers_middleware, resolve
from tests.web.webapp import make_app, settings_for

PROXIES = parse_networks(["10.0.0.5", "10.1.0.0/24", "::1"])


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        # no trusted proxy in front: the header is the client's own claim, ignored
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        ("203.0.113.9", [], "203.0.113.9"),
        # a trusted proxy: the rightmost hop it appended is the client
        ("10.0.0.5", ["198.51.100.1"], "198.51.100.1"),
        # the client's own entries (left of the real hop) are not believed
        ("10.0.0.5", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.5", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # repeated header lines
        # a chain of trusted proxies is walked through
        ("10.0.0.5", ["6.6.6.6, 198.51.100.1, 10.1.0.7"], "198.51.100.1"),
        # all hops trusted: the leftmost of them
        ("10.0.0.5", ["10.1.0.8, 10.1.0.7"], "10.1.0.8"),
        # a trusted proxy without the header: the proxy itself
        ("10.0.0.5", [], "10.0.0.5"),
        # garbage right after the trusted hop: stay with the last address we can vouch for
        ("10.0.0.5", ["198.51.100.1, not-an-ip"], "10.0.0.5"),
        ("10.0.0.5", ["6.6.6.6, 198.51.100.1:1234"], "10.0.0.5"),
        ("10.0.0.5", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("::1", ["2001:db8::7"], "2001:db8::7"),
        ("::ffff:10.0.0.5", ["198.51.100.1"], "198.51.100.1"),  # an IPv4-mapped peer
        ("10.1.0.300", ["198.51.100.1"], "10.1.0.300"),  # not an address: not trusted
    ],
)
def test_resolve(peer: str, xff: list[str], expected: str) -> None:
    assert resolve(peer, xff, PROXIES) == expected


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert resolve("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


def test_trusted_proxies_are_checked_when_the_config_is_read() -> None:
    with pytest.raises(ConfigError, match="trusted_proxies"):
        WebSettings(trusted_proxies=("10.0.0.0/33",))
    with pytest.raises(ConfigError, match="together"):
        WebSettings(tls_cert="/etc/revisor/cert.pem")


def _scope_client(trusted: list[str], peer: str, xff: bytes) -> Any:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(client=scope["client"], peer=scope["state"]["peer"])

    scope = {"type": "http", "client": (peer, 5555), "headers": [(b"x-forwarded-for", xff)]}

    async def go() -> None:
        await proxy_headers_middleware(parse_networks(trusted))(app)(scope, None, None)  # type: ignore[arg-type]

    anyio.run(go)
    return seen


def test_middleware_puts_the_client_in_the_scope_and_keeps_the_peer() -> None:
    assert _scope_client(["10.0.0.5"], "10.0.0.5", b"198.51.100.1") == {
        "client": ("198.51.100.1", 0),
        "peer": "10.0.0.5",
    }
    assert _scope_client([], "10.0.0.5", b"198.51.100.1")["client"] == ("10.0.0.5", 5555)


def _failed_sign_in_source(tmp_path: Path, trusted: tuple[str, ...], peer: str) -> str:
    """A failed sign-in through the whole app from `peer` claiming X-Forwarded-For."""
    settings = settings_for(tmp_path)
    settings = dataclasses.replace(
        settings, web=dataclasses.replace(settings.web, trusted_proxies=trusted)
    )
    app = make_app(settings)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with (
            app.lifespan(),  # ASGITransport does not run it: the resources open here
            httpx.AsyncClient(transport=transport, base_url="http://revisor") as client,
        ):
            page = await client.get("/login")
            token = page.text.split('name="_csrf" value="', 1)[1].split('"', 1)[0]
            r = await client.post(
                "/login",
                data={"username": "viewer-user", "password": "wrong", "_csrf": token},
                headers={"x-forwarded-for": "6.6.6.6, 198.51.100.23"},
            )
            assert r.status_code == 401

    anyio.run(go)
    log = AuditLog(settings.audit_path)
    try:
        failed = [r for r in log.records() if r["event"] == "auth.signin.failed"]
    finally:
        log.close()
    assert len(failed) == 1
    return str(failed[0]["source"])


def test_audit_source_through_a_trusted_proxy_is_the_forwarded_client(tmp_path: Path) -> None:
    assert _failed_sign_in_source(tmp_path, ("10.0.0.5",), "10.0.0.5") == "198.51.100.23"


def test_audit_source_from_an_untrusted_peer_ignores_the_header(tmp_path: Path) -> None:
    assert _failed_sign_in_source(tmp_path, ("10.0.0.5",), "10.9.9.9") == "10.9.9.9"


def _metrics_status(tmp_path: Path, xff: str | None) -> int:
    """GET /metrics without a session, from a proxy on loopback that is trusted."""
    settings = settings_for(tmp_path)
    web = dataclasses.replace(settings.web, trusted_proxies=("127.0.0.1",))
    app = make_app(dataclasses.replace(settings, web=web))
    status = 0

    async def go() -> None:
        nonlocal status
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with (
            app.lifespan(),  # ASGITransport does not run it: the resources open here
            httpx.AsyncClient(transport=transport, base_url="http://revisor") as client,
        ):
            headers = {"x-forwarded-for": xff} if xff else {}
            status = (await client.get("/metrics", headers=headers)).status_code

    anyio.run(go)
    return status


def test_a_local_proxy_does_not_make_every_client_loopback_for_metrics(tmp_path: Path) -> None:
    assert _metrics_status(tmp_path / "a", None) == 200  # a scraper on the box itself
    assert _metrics_status(tmp_path / "b", "198.51.100.1") == 401  # a client via the proxy
