"""The one place that builds outbound HTTP clients.

Every connection Revisor makes (Git servers, model endpoints) goes through `Egress.client()`,
which refuses any host that is not on the allowlist derived from the configuration — at
construction and again on every request, so a redirect to another host is refused too.
TLS is always verified; a per-destination CA bundle can be given for internal CAs.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from revisor.errors import EgressDenied

RefusalHook = Callable[[str, str], None]  # (host, purpose) -> None, e.g. write an audit event


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https", "ldap", "ldaps"} or not parts.hostname:
        raise EgressDenied(f"not an absolute http(s)/ldap(s) URL: {url!r}")
    default = {"http": 80, "https": 443, "ldap": 389, "ldaps": 636}[parts.scheme]
    return parts.hostname.lower(), parts.port or default


@dataclass(frozen=True)
class Egress:
    """Allowlist of (host, port) pairs. Build it once from settings + registered repositories."""

    allowed: frozenset[tuple[str, int]]
    on_refusal: RefusalHook | None = field(default=None, compare=False)

    @classmethod
    def from_urls(cls, urls: Iterable[str], on_refusal: RefusalHook | None = None) -> Egress:
        return cls(frozenset(host_port(u) for u in urls if u), on_refusal)

    def check(self, url: str, purpose: str = "") -> None:
        host, port = host_port(url)
        if (host, port) not in self.allowed:
            if self.on_refusal is not None:
                self.on_refusal(f"{host}:{port}", purpose)
            raise EgressDenied(
                f"refused outbound connection to {host}:{port}"
                + (f" ({purpose})" if purpose else "")
                + ": not on the egress allowlist"
            )

    def client(
        self,
        base_url: str,
        *,
        purpose: str,
        ca_file: str | None = None,
        timeout: float = 30.0,
        headers: dict[str, str] | None = None,
    ) -> httpx.Client:
        self.check(base_url, purpose)

        def guard(request: httpx.Request) -> None:
            self.check(str(request.url), purpose)

        return httpx.Client(
            base_url=base_url,
            verify=ssl_context(ca_file),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers=headers,
            follow_redirects=False,
            event_hooks={"request": [guard]},
            trust_env=False,  # never pick up a proxy from the environment
        )


def ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context; `ca_file` replaces the system store for internal CAs."""
    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
