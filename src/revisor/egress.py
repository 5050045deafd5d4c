"""The one place that builds outbound HTTP clients.

Every connection Revisor makes (Git servers, model endpoints) goes through `Egress.client()`,
which refuses any host that is not on the allowlist derived from the configuration — at
construction and again on every request, so a redirect to another host is refused too.
TLS is always verified; a per-destination CA bundle can be given for internal CAs. Every
answer is size-capped while it is read (`MAX_RESPONSE_BYTES` after decompression, so a
compressed "bomb" is cut off too): a larger one raises `ResponseTooLarge` and is not kept.
`Egress.session()` builds the same guarded, capped client for `requests` (python-gitlab).

`allowlist_from()` derives the allowlist from the configuration (the Git servers an admin has
allowed, LDAP servers, model endpoints, `[egress] allow`, the local sidecar) and nothing else:
hosts named in webhook payloads never reach it, and registering a repository does not add its
server (only `revisor server add` or the dashboard's Git servers page, both admin-only, do).
`audit_refusals()` turns a refusal into an `egress.refused` audit event. The OS-level twin of
this list is `appliance/nftables.conf`.
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
import requests
import requests.adapters

from revisor import metrics
from revisor.errors import ConfigError, EgressDenied, ResponseTooLarge

if TYPE_CHECKING:
    from revisor.config import Settings

RefusalHook = Callable[[str, str], None]  # (host, purpose) -> None, e.g. write an audit event

# The largest answer read from any server: a merge request's diff (Gitea sends it whole; GitLab
# caps each file's diff itself) is the largest thing Revisor asks for.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
_CHUNK = 64 * 1024


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


def _too_large(url: str, limit: int, declared: str | None = None) -> ResponseTooLarge:
    host = urlsplit(url).hostname or "?"
    said = f" (it announced {declared} bytes)" if declared else ""
    return ResponseTooLarge(
        f"{host} sent an answer larger than {limit} bytes{said}; refused and not read further"
    )


def _announced_too_much(headers: Any, limit: int) -> str | None:
    declared = headers.get("Content-Length")
    return declared if declared and declared.isdigit() and int(declared) > limit else None


class _CappedClient(httpx.Client):
    """An httpx client that reads at most `max_response_bytes` (decoded) of any answer."""

    def __init__(self, *, max_response_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_response_bytes = max_response_bytes

    def send(
        self, request: httpx.Request, *, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        response = super().send(request, stream=True, **kwargs)
        if stream:  # the caller reads (and bounds) the body itself
            return response
        limit = self.max_response_bytes
        try:
            declared = _announced_too_much(response.headers, limit)
            if declared:
                raise _too_large(str(request.url), limit, declared)
            body = bytearray()
            for chunk in response.iter_bytes(_CHUNK):
                body += chunk
                if len(body) > limit:
                    raise _too_large(str(request.url), limit)
            response._content = bytes(body)  # what Response.read() would have stored
        finally:
            response.close()
        return response


class _GuardedAdapter(requests.adapters.HTTPAdapter):
    """For `requests`: asks Egress about every request (redirects included), refuses any host
    but `server`'s, and reads at most `max_response_bytes` (decoded) of any answer."""

    def __init__(self, egress: Egress, server: str, purpose: str, max_response_bytes: int) -> None:
        super().__init__(max_retries=0)
        self._egress = egress
        self._origin = host_port(server)
        self._purpose = purpose
        self._limit = max_response_bytes

    def send(
        self, request: requests.PreparedRequest, stream: bool = False, *args: Any, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        self._egress.check(url, self._purpose)
        if host_port(url) != self._origin:
            raise EgressDenied(
                f"refused request to {host_port(url)[0]}: only the registered server "
                f"{self._origin[0]} may be contacted with this repository's token"
            )
        response = super().send(request, True, *args, **kwargs)
        if stream:
            return response
        try:
            declared = _announced_too_much(response.headers, self._limit)
            if declared:
                raise _too_large(url, self._limit, declared)
            body = bytearray()
            for chunk in response.iter_content(_CHUNK):
                body += chunk
                if len(body) > self._limit:
                    raise _too_large(url, self._limit)
        except BaseException:
            response.close()
            raise
        response._content = bytes(body)  # what Response.content would have stored
        response._content_consumed = True
        return response


@dataclass(frozen=True)
class Egress:
    """Allowlist of (host, port) pairs. Build it once from settings + allowed Git servers."""

    allowed: frozenset[tuple[str, int]]
    on_refusal: RefusalHook | None = field(default=None, compare=False)
    max_response_bytes: int = MAX_RESPONSE_BYTES

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

        return _CappedClient(
            max_response_bytes=self.max_response_bytes,
            base_url=base_url,
            verify=ssl_context(ca_file),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers=headers,
            follow_redirects=False,
            event_hooks={"request": [guard]},
            trust_env=False,  # never pick up a proxy from the environment
        )

    def session(self, server: str, *, purpose: str, ca_file: str | None) -> requests.Session:
        """A `requests` session that may talk to `server` only, capped like `client()`."""
        self.check(server, purpose)
        session = requests.Session()
        session.trust_env = False  # no proxies or netrc from the environment
        adapter = _GuardedAdapter(self, server, purpose, self.max_response_bytes)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.verify = ca_file or True
        session.max_redirects = 3
        return session


def ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context; `ca_file` replaces the system store for internal CAs."""
    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def allowlist_from(
    settings: Settings,
    git_servers: Iterable[HasServer | str],
    model_urls: Iterable[str] = (),
    *,
    on_refusal: RefusalHook | None = None,
) -> Egress:
    """The allowlist derived from the configuration, and only from it.

    - the Git servers an admin has allowed (`revisor.store.servers.urls()`), never the
      servers of registered repositories as such;
    - the LDAP servers of `[ldap] servers` (when LDAP is enabled);
    - the model endpoints: `[[model.endpoints]]` plus `model_urls` (registered with
      `revisor model add`), and the local sidecar on `sidecar_host:sidecar_port`;
    - the extra hosts of `[egress] allow`.
    """
    sources: list[tuple[str, str]] = [
        ("Git server", r if isinstance(r, str) else r.server) for r in git_servers
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
