"""The client's address: the one rule for throttling, audit records and the /metrics check.

The TCP peer is the client, unless the peer is a reverse proxy listed in `[web]
trusted_proxies`. Then `X-Forwarded-For` is read from the right (each proxy appends the
address it received the request from): trusted hops are skipped and the first untrusted one is
the client. Everything left of it was written by the client and is never believed. Without
trusted proxies the header is ignored entirely, so nobody can pick their own address to dodge
the sign-in throttle or to forge the source in the audit log.

`proxy_headers_middleware` applies the rule once per request and puts the result in
`scope["client"]` (the peer stays in `scope["state"]["peer"]`), so `client_address(request)`
and everything that reads `request.client` see the same address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_HOPS = 32  # a longer X-Forwarded-For is not a real proxy chain; read no further


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(found, "ipv4_mapped", None)  # "::ffff:10.0.0.1" is 10.0.0.1
    return mapped if isinstance(mapped, ipaddress.IPv4Address) else found


def _trusted(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(
        address.version == net.version and address in net for net in trusted
    )


def resolve(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client address for a request from `peer` carrying these X-Forwarded-For values."""
    current = _address(peer)
    if not _trusted(current, trusted):
        return str(current) if current is not None else peer
    hops = [h for value in forwarded_for for h in value.split(",") if h.strip()]
    for hop in reversed(hops[-MAX_HOPS:]):
        found = _address(hop)
        if found is None:
            break  # garbage a trusted proxy passed on: keep the last hop we could read
        current = found
        if not _trusted(current, trusted):
            break
    return str(current)


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The address to throttle and audit by ("" when the server gave none)."""
    client = connection.client
    return client.host if client else ""


def proxy_headers_middleware(trusted: Sequence[Network]) -> Callable[[ASGIApp], ASGIApp]:
    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in (ScopeType.HTTP, ScopeType.WEBSOCKET):
                peer = scope.get("client")
                host = peer[0] if peer else ""
                scope.setdefault("state", {})["peer"] = host
                if trusted and host:
                    forwarded = [
                        v.decode("latin-1")
                        for k, v in scope.get("headers", [])
                        if k.lower() == b"x-forwarded-for"
                    ]
                    address = resolve(host, forwarded, trusted)
                    if address != host:
                        scope["client"] = (address, 0)
            await app(scope, receive, send)

        return middleware

    return wrap
