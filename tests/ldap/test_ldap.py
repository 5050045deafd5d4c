"""LDAP sign-in against a real OpenLDAP (Debian's slapd) over verified TLS."""

from __future__ import annotations

import ssl
from dataclasses import replace
from pathlib import Path

import pytest

from revisor.config import LdapSettings
from revisor.directory import make_tls
from revisor.egress import Egress
from revisor.errors import ConfigError, EgressDenied
from revisor.web.auth.ldap import InvalidCredentials, LdapAuthenticator, LdapUnavailable
from tests.ldap.slapd import (
    GROUP_ROLES,
    PASSWORDS,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SUFFIX,
    Slapd,
    free_port,
    make_pki,
)

pytestmark = pytest.mark.ldap


def settings_for(slapd: Slapd, **overrides: object) -> LdapSettings:
    base = LdapSettings(
        enabled=True,
        servers=(slapd.ldaps_url,),
        ca_file=str(slapd.pki.ca_file),
        bind_dn=SERVICE_DN,
        user_base=f"ou=people,{SUFFIX}",
        group_base=f"ou=groups,{SUFFIX}",
        nested_depth=5,
        connect_timeout_seconds=2.0,
        receive_timeout_seconds=5.0,
        group_roles=GROUP_ROLES,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def auth(settings: LdapSettings, password: str = SERVICE_PASSWORD) -> LdapAuthenticator:
    return LdapAuthenticator(settings, Egress.from_urls(settings.servers), password)


def test_good_login_over_ldaps_maps_direct_group_to_role(slapd: Slapd) -> None:
    user = auth(settings_for(slapd)).authenticate("bob", PASSWORDS["bob"])
    assert user.dn == f"uid=bob,ou=people,{SUFFIX}"
    assert user.roles == {"maintainer"}
    assert user.display_name == "Bob Example"


def test_good_login_over_starttls(slapd: Slapd) -> None:
    s = settings_for(slapd, servers=(slapd.ldap_url,), start_tls=True)
    assert auth(s).authenticate("carol", PASSWORDS["carol"]).roles == {"auditor"}


def test_nested_group_grants_role(slapd: Slapd) -> None:
    user = auth(settings_for(slapd)).authenticate("alice", PASSWORDS["alice"])
    assert f"cn=ops,ou=groups,{SUFFIX}" in user.groups
    assert user.roles == {"admin"}


def test_nesting_deeper_than_the_limit_grants_nothing(slapd: Slapd) -> None:
    assert auth(settings_for(slapd)).authenticate("erin", PASSWORDS["erin"]).roles == frozenset()
    deep = settings_for(slapd, nested_depth=8)
    assert auth(deep).authenticate("erin", PASSWORDS["erin"]).roles == {"viewer"}


def test_nested_groups_off_sees_only_direct_groups(slapd: Slapd) -> None:
    s = settings_for(slapd, nested_groups=False)
    assert auth(s).authenticate("alice", PASSWORDS["alice"]).roles == frozenset()


def test_user_without_groups_has_no_role(slapd: Slapd) -> None:
    assert auth(settings_for(slapd)).authenticate("dave", PASSWORDS["dave"]).roles == frozenset()


def test_wrong_password_is_refused(slapd: Slapd) -> None:
    with pytest.raises(InvalidCredentials) as info:
        auth(settings_for(slapd)).authenticate("bob", "not-bobs")
    assert "invalidCredentials" in info.value.reason


@pytest.mark.parametrize(
    "password",
    [
        "",
    ],
)
def test_empty_password_is_refused_before_any_bind(slapd: Slapd, password: str) -> None:
    # Pointing at a closed port proves no connection was even attempted.
    s = settings_for(slapd, servers=(f"ldaps://127.0.0.1:{free_port()}",))
    with pytest.raises(InvalidCredentials) as info:
        auth(s).authenticate("bob", password)
    assert info.value.reason == "empty password"


@pytest.mark.parametrize("username", ["*)(uid=*", "*", "bob)(|(uid=*", "b*", "bob\\2a"])
def test_filter_injection_finds_nobody(slapd: Slapd, username: str) -> None:
    with pytest.raises(InvalidCredentials) as info:
        auth(settings_for(slapd)).authenticate(username, PASSWORDS["bob"])
    assert info.value.reason == "unknown user"


def test_unknown_user_is_refused_with_the_same_message(slapd: Slapd) -> None:
    with pytest.raises(InvalidCredentials) as unknown:
        auth(settings_for(slapd)).authenticate("mallory", "whatever")
    with pytest.raises(InvalidCredentials) as wrong:
        auth(settings_for(slapd)).authenticate("bob", "whatever")
    assert str(unknown.value) == str(wrong.value)
    # only a name the directory has may be named in the audit log (web/auth/usernames.py)
    assert not unknown.value.user_found
    assert wrong.value.user_found


def test_certificate_from_another_ca_is_refused(slapd: Slapd, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other", name="Other CA")
    s = settings_for(slapd, ca_file=str(other.ca_file))
    with pytest.raises(LdapUnavailable, match="certificate"):
        auth(s).authenticate("bob", PASSWORDS["bob"])


def test_starttls_also_validates_the_certificate(slapd: Slapd, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other", name="Other CA")
    s = settings_for(slapd, servers=(slapd.ldap_url,), start_tls=True, ca_file=str(other.ca_file))
    with pytest.raises(LdapUnavailable):
        auth(s).authenticate("bob", PASSWORDS["bob"])


def test_without_a_ca_file_the_system_store_is_used_and_refuses_the_test_ca(slapd: Slapd) -> None:
    with pytest.raises(LdapUnavailable, match="certificate"):
        auth(settings_for(slapd, ca_file="")).authenticate("bob", PASSWORDS["bob"])


def test_validation_cannot_be_disabled() -> None:
    assert make_tls("").validate == ssl.CERT_REQUIRED
    assert not any(
        "valid" in name or "verify" in name for name in LdapSettings.__dataclass_fields__
    )


def test_hostname_must_match_the_certificate(slapd: Slapd) -> None:
    # The certificate names 127.0.0.1 only; "localhost" resolves to it but is not in the cert.
    s = settings_for(slapd, servers=(slapd.ldaps_url.replace("127.0.0.1", "localhost"),))
    with pytest.raises(LdapUnavailable, match="certificate"):
        auth(s).authenticate("bob", PASSWORDS["bob"])


def test_plain_ldap_without_starttls_is_a_config_error(slapd: Slapd) -> None:
    with pytest.raises(ConfigError, match="start_tls"):
        auth(settings_for(slapd, servers=(slapd.ldap_url,), start_tls=False))


def test_server_down_gives_a_clear_error(slapd: Slapd) -> None:
    dead = f"ldaps://127.0.0.1:{free_port()}"
    with pytest.raises(LdapUnavailable) as info:
        auth(settings_for(slapd, servers=(dead,))).authenticate("bob", PASSWORDS["bob"])
    assert "no LDAP server could be reached" in str(info.value)
    assert dead in str(info.value)


def test_fails_over_to_the_second_server(slapd: Slapd) -> None:
    dead = f"ldaps://127.0.0.1:{free_port()}"
    s = settings_for(slapd, servers=(dead, slapd.ldaps_url))
    assert auth(s).authenticate("bob", PASSWORDS["bob"]).roles == {"maintainer"}


def test_wrong_service_password_is_a_config_error(slapd: Slapd) -> None:
    with pytest.raises(ConfigError, match="service account"):
        auth(settings_for(slapd), password="nope").authenticate("bob", PASSWORDS["bob"])


def test_server_not_on_the_egress_allowlist_is_refused(slapd: Slapd) -> None:
    s = settings_for(slapd)
    authenticator = LdapAuthenticator(s, Egress.from_urls(["ldaps://other:636"]), SERVICE_PASSWORD)
    with pytest.raises(EgressDenied):
        authenticator.authenticate("bob", PASSWORDS["bob"])
