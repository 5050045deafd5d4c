"""The LDAP directory's settings check and TLS, shared by sign-in (`web/auth/ldap.py`) and
`revisor doctor` (`ops/checks.py`), so that neither imports the other's layer."""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

import ldap3

from revisor.config import LdapSettings
from revisor.errors import ConfigError

ROLES = ("admin", "maintainer", "auditor", "viewer")


def check_settings(settings: LdapSettings) -> None:
    """Refuse configurations that would send passwords in clear or map to unknown roles."""
    if not settings.servers:
        raise ConfigError("[ldap] servers is empty")
    for url in settings.servers:
        scheme = urlsplit(url).scheme
        if scheme == "ldap" and not settings.start_tls:
            raise ConfigError(
                f"[ldap] {url}: plain ldap:// needs start_tls = true (passwords never go in clear)"
            )
        if scheme not in {"ldap", "ldaps"}:
            raise ConfigError(f"[ldap] {url}: use ldaps://host:636 or ldap://host:389 + start_tls")
    if settings.ca_file and not Path(settings.ca_file).is_file():
        raise ConfigError(f"[ldap] ca_file {settings.ca_file} does not exist")
    for dn, role in settings.group_roles.items():
        if role not in ROLES:
            raise ConfigError(
                f"[ldap.group_roles] {dn!r}: unknown role {role!r} ({', '.join(ROLES)})"
            )
    if not settings.user_base:
        raise ConfigError("[ldap] user_base is empty")
    if "{username}" not in settings.user_filter:
        raise ConfigError("[ldap] user_filter must contain {username}")


def make_tls(ca_file: str) -> ldap3.Tls:
    """Always CERT_REQUIRED: ldap3's default (CERT_NONE) would accept any certificate."""
    return ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        version=ssl.PROTOCOL_TLS_CLIENT,
        ca_certs_file=ca_file or None,
    )
