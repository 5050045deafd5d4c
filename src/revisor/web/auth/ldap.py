"""LDAP sign-in: search-then-bind with a service account, over verified TLS only.

How a sign-in goes:

1. refuse an empty password before any network traffic (an LDAP simple bind with a DN and an
   empty password is an *unauthenticated* bind, which most servers answer with success);
2. walk the configured servers in order (our pool): the first one that accepts a TCP + TLS
   connection and the service account's bind is used; a server that is down, times out or
   presents a certificate the configured CA did not sign is skipped, and if none works the
   error names each server and why;
3. search the user with the configured filter, the username escaped (`escape_filter_chars`), so
   `*)(uid=*` is a literal username and not a filter;
4. bind as the user's DN with the password on a fresh connection (never reuse the service
   connection, so a failed user bind cannot leave it in an odd state);
5. find the user's groups (`member`/`uniqueMember` of groups under `group_base`), then resolve
   nesting client-side, breadth first, up to `nested_depth` levels (OpenLDAP has no in-chain
   matching rule), and map group DNs to roles with `group_roles`.

TLS: `ldaps://` or `ldap://` + StartTLS; the certificate is always checked
(`ssl.CERT_REQUIRED`, plus host name) against `ca_file` or, without it, the system store. There
is deliberately no setting that turns this off. Referrals are not followed: a referral could
send the client to a host that is not on the egress allowlist.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as lexc
from ldap3.utils.conv import escape_filter_chars

from revisor.config import LdapSettings
from revisor.directory import check_settings, make_tls
from revisor.egress import Egress
from revisor.errors import ConfigError, RevisorError

MAX_USERNAME = 256


class InvalidCredentials(RevisorError):
    """Wrong password, unknown user or empty password: one message for all, to not leak which."""

    def __init__(self, reason: str = "invalid credentials", *, user_found: bool = False) -> None:
        super().__init__("invalid username or password")
        self.reason = reason  # for the audit record, never shown to the user
        # True when the directory has this user (the password was wrong): only then may the
        # audit record name it (see usernames.failed_actor).
        self.user_found = user_found


class NoRole(RevisorError):
    """The password was right but no group the user belongs to maps to a role."""


class LdapUnavailable(RevisorError):
    """No configured LDAP server could be reached (down, timeout, TLS refused)."""


@dataclass(frozen=True)
class LdapUser:
    dn: str
    username: str
    display_name: str
    groups: frozenset[str]  # normalised (lower-case) DNs, nested ones included
    roles: frozenset[str]


def normalize_dn(dn: str) -> str:
    """Compare DNs case-insensitively and without spaces after separators (good enough here)."""
    return ",".join(part.strip() for part in dn.split(",")).lower()


def roles_for(groups: Iterable[str], group_roles: Mapping[str, str]) -> frozenset[str]:
    wanted = {normalize_dn(dn): role for dn, role in group_roles.items()}
    return frozenset(wanted[g] for g in groups if g in wanted)


class LdapAuthenticator:
    """Authenticates against the configured directory. Thread-safe: it keeps no connection."""

    def __init__(self, settings: LdapSettings, egress: Egress, bind_password: str) -> None:
        check_settings(settings)
        self.settings = settings
        self.egress = egress
        self._bind_password = bind_password

    @classmethod
    def from_settings(cls, settings: LdapSettings, egress: Egress) -> LdapAuthenticator:
        password = ""
        if settings.bind_password_file:
            try:
                password = Path(settings.bind_password_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"[ldap] bind_password_file: {exc}") from None
        return cls(settings, egress, password)

    # --- the sign-in ------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> LdapUser:
        username = username.strip()
        if not password:
            raise InvalidCredentials("empty password")
        if not username or len(username) > MAX_USERNAME or "\x00" in username:
            raise InvalidCredentials("malformed username")
        server, service = self._connect_service()
        try:
            entry = self._find_user(service, username)
            try:
                self._bind_user(server, entry["dn"], password)
            except InvalidCredentials as exc:
                raise InvalidCredentials(exc.reason, user_found=True) from None
            groups = self._groups(service, entry)
        finally:
            service.unbind()
        return LdapUser(
            dn=entry["dn"],
            username=username,
            display_name=entry["display_name"] or username,
            groups=groups,
            roles=roles_for(groups, self.settings.group_roles),
        )

    # --- connections ------------------------------------------------------------------------

    def _server(self, url: str) -> ldap3.Server:
        self.egress.check(url, "ldap")
        parts = urlsplit(url)
        use_ssl = parts.scheme == "ldaps"
        return ldap3.Server(
            parts.hostname or "",
            port=parts.port or (636 if use_ssl else 389),
            use_ssl=use_ssl,
            tls=make_tls(self.settings.ca_file),
            get_info=ldap3.NONE,
            connect_timeout=self.settings.connect_timeout_seconds,
        )

    def _open(self, server: ldap3.Server, user: str, password: str) -> ldap3.Connection:
        """Open, (StartTLS), bind. Raises InvalidCredentials for a refused bind."""
        conn = ldap3.Connection(
            server,
            user=user,
            password=password,
            auto_bind=ldap3.AUTO_BIND_NONE,
            # ldap3 packs this into SO_RCVTIMEO as a C long: whole seconds only.
            receive_timeout=max(1, math.ceil(self.settings.receive_timeout_seconds)),
            read_only=True,
            auto_referrals=False,
            raise_exceptions=False,
        )
        conn.open()
        if not server.ssl and not conn.start_tls():
            conn.unbind()
            raise lexc.LDAPStartTLSError(f"StartTLS refused: {conn.result}")
        if not conn.bind():
            result = conn.result or {}
            conn.unbind()
            raise InvalidCredentials(f"bind refused: {result.get('description', 'unknown')}")
        return conn

    def _connect_service(self) -> tuple[ldap3.Server, ldap3.Connection]:
        problems = []
        for url in self.settings.servers:
            server = self._server(url)
            try:
                return server, self._open(server, self.settings.bind_dn, self._bind_password)
            except InvalidCredentials as exc:
                raise ConfigError(
                    f"LDAP server {url} refused the service account {self.settings.bind_dn!r}"
                    f" ({exc.reason}); check [ldap] bind_dn and bind_password_file"
                ) from None
            except lexc.LDAPException as exc:
                problems.append(f"{url}: {_describe(exc)}")
        raise LdapUnavailable("no LDAP server could be reached: " + "; ".join(problems))

    def _bind_user(self, server: ldap3.Server, dn: str, password: str) -> None:
        try:
            self._open(server, dn, password).unbind()
        except lexc.LDAPException as exc:
            raise LdapUnavailable(
                f"LDAP server failed during the user bind: {_describe(exc)}"
            ) from None

    # --- directory reads --------------------------------------------------------------------

    def _search(
        self, conn: ldap3.Connection, base: str, flt: str, attrs: list[str], limit: int = 0
    ) -> list[dict[str, Any]]:
        try:
            conn.search(base, flt, ldap3.SUBTREE, attributes=attrs, size_limit=limit)
        except lexc.LDAPException as exc:
            raise LdapUnavailable(f"LDAP search failed: {_describe(exc)}") from None
        result = conn.result or {}
        if result.get("result", 0) not in (0, 4):  # 4: size limit exceeded (we asked for 2)
            raise LdapUnavailable(f"LDAP search failed: {result.get('description')}")
        return [e for e in conn.response or [] if e.get("type") == "searchResEntry"]

    def _find_user(self, conn: ldap3.Connection, username: str) -> dict[str, Any]:
        flt = self.settings.user_filter.replace("{username}", escape_filter_chars(username))
        entries = self._search(
            conn, self.settings.user_base, flt, ["cn", "displayName", "memberOf"], limit=2
        )
        if not entries:
            raise InvalidCredentials("unknown user")
        if len(entries) > 1:
            raise InvalidCredentials("username matches several entries")
        attrs = entries[0].get("attributes", {})
        return {
            "dn": entries[0]["dn"],
            "display_name": _first(attrs.get("displayName")) or _first(attrs.get("cn")),
            "member_of": [str(g) for g in attrs.get("memberOf") or []],
        }

    def _direct_groups(self, conn: ldap3.Connection, dns: Iterable[str]) -> set[str]:
        dns = list(dns)
        if not dns or not self.settings.group_base:
            return set()
        terms = "".join(
            f"(member={escape_filter_chars(dn)})(uniqueMember={escape_filter_chars(dn)})"
            for dn in dns
        )
        flt = f"(|{terms})"
        return {
            normalize_dn(e["dn"]) for e in self._search(conn, self.settings.group_base, flt, ["cn"])
        }

    def _groups(self, conn: ldap3.Connection, entry: dict[str, Any]) -> frozenset[str]:
        found = {normalize_dn(g) for g in entry["member_of"]}
        found |= self._direct_groups(conn, [entry["dn"]])
        if not self.settings.nested_groups:
            return frozenset(found)
        frontier = set(found)
        for _ in range(max(0, self.settings.nested_depth)):
            parents = self._direct_groups(conn, sorted(frontier)) - found
            if not parents:
                break
            found |= parents
            frontier = parents
        return frozenset(found)


def _first(value: Any) -> str:
    if isinstance(value, list | tuple):
        return str(value[0]) if value else ""
    return str(value) if value else ""


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "certificate" in lowered or "ssl" in lowered:
        return f"TLS failed, the certificate was not accepted ({text})"
    if "timed out" in lowered or "timeout" in lowered:
        return f"timed out ({text})"
    if "refused" in lowered or "unable to open socket" in lowered:
        return f"connection refused ({text})"
    return text
