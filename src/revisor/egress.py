"""The one place that builds outbound HTTP clients.

Every connection Revisor makes (Git servers, model endpoints) goes through `Egress.client()`,
which refuses any host that is not on the allowlist derived from the configuration — at
construction and again on every request, so a redirect to another host is refused too.
TLS is always verified; a per-destination CA bundle can be given for internal CAs.

`allowlist_from()` derives the allowlist from the configuration (registered Git servers, LDAP
servers, model endpoints, `[egress] allow`, the local sidecar) and nothing else: hosts named in
webhook payloads never reach it. `audit_refusals()` turns a refusal into an `egress.refused` audit
event. The OS-level twin of this list is `appliance/nftables.conf`.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx

from revisor import metrics
from revisor.errors import ConfigError, EgressDenied

if TYPE_CHECKING:
    from revisor.config import Settings

RefusalHook = Callable[[str, str], None]  # (host, purpose) -> None, e.g. write an audit event


class HasServer(Protocol):
    """A registered repository (revisor.store.repos.Repo): only its server URL matters here."""

    @property
    def server(self) -> str: ...


class AuditRecorder(Protocol):
    """The slice of revisor.audit.AuditLog that a refusal hook needs."""

    def record(
        self,
        event: Any,
        *,
        actor: str,
        target: str,
        outcome: Any = ...,
        source: str = ...,
        **details: Any,
    ) -> int: ...


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
            metrics.EGRESS_REFUSALS.labels(purpose or "unspecified").inc()
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


def allowlist_from(
    settings: Settings,
    repos: Iterable[HasServer | str],
    model_urls: Iterable[str] = (),
    *,
    on_refusal: RefusalHook | None = None,
) -> Egress:
    """The allowlist derived from the configuration, and only from it.

    - the server registered for each repository (a `Repo` or its server URL);
    - the LDAP servers of `[ldap] servers` (when LDAP is enabled);
    - the model endpoints: `[[model.endpoints]]` plus `model_urls` (registered with
      `revisor model add`), and the local sidecar on `sidecar_host:sidecar_port`;
    - the extra hosts of `[egress] allow`.
    """
    sources: list[tuple[str, str]] = [
        ("repository", r if isinstance(r, str) else r.server) for r in repos
    ]
    if settings.ldap.enabled:
        sources += [("[ldap] servers", u) for u in settings.ldap.servers]
    sources += [("[[model.endpoints]]", e.url) for e in settings.model.endpoints]
    sources += [("model endpoint", u) for u in model_urls]
    m = settings.model
    sources.append(("sidecar", f"http://{_bracket(m.sidecar_host)}:{m.sidecar_port}"))
    # `[egress] allow` takes URLs, or bare "host" / "host:port" (HTTPS, port 443 by default).
    sources += [
        ("[egress] allow", a if "://" in a else f"https://{a}") for a in settings.egress.allow
    ]
    allowed = set()
    for where, url in sources:
        try:
            allowed.add(host_port(url))
        except EgressDenied:
            raise ConfigError(f"{where}: {url!r} is not a usable http(s)/ldap(s) URL") from None
    return Egress(frozenset(allowed), on_refusal)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def audit_refusals(audit: AuditRecorder, actor: str) -> RefusalHook:
    """A refusal hook that writes `egress.refused` (outcome denied) with the host and purpose.

    If the audit record cannot be written, `AuditWriteError` propagates: the connection is
    refused either way.
    """
    from revisor.audit.events import Event, Outcome

    def refused(host: str, purpose: str) -> None:
        audit.record(
            Event.EGRESS_REFUSED,
            actor=actor,
            target=f"host:{host}",
            outcome=Outcome.DENIED,
            purpose=purpose,
        )

    return refused


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110: delta-seconds or an HTTP date); None if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
