"""Internal CAs: TLS is always verified, and a repository's `ca_file` is what makes it pass."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from revisor.domain import ForgeKind
from revisor.egress import Egress
from revisor.errors import ForgeError, ForgeUnavailable
from revisor.forges import open_forge
from tests.fakes import FakeGitea, FakeGitLab, modified

from .conftest import FAST, make_repo


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throwaway internal CA and a `localhost` server certificate it signed."""
    out = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Revisor Test CA"))
        .issuer_name(_name("Revisor Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": out / "ca.pem", "cert": out / "server.pem", "key": out / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(_pem_key(key))
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture(params=[ForgeKind.GITLAB, ForgeKind.GITEA])
def tls_fake(
    request: pytest.FixtureRequest, pki: dict[str, str]
) -> Iterator[FakeGitLab | FakeGitea]:
    fake: FakeGitLab | FakeGitea
    if request.param is ForgeKind.GITLAB:
        fake = FakeGitLab()
        fake.start(certfile=pki["cert"], keyfile=pki["key"])
        fake.add_merge_request("owner/app", 1, [modified("a.py")])
    else:
        fake = FakeGitea()
        fake.start(certfile=pki["cert"], keyfile=pki["key"])
        fake.add_pull_request("owner/app", 1, [modified("a.py")])
    yield fake
    fake.stop()


def _forge_kind(fake: FakeGitLab | FakeGitea) -> ForgeKind:
    return ForgeKind.GITLAB if isinstance(fake, FakeGitLab) else ForgeKind.GITEA


def test_ca_file_makes_an_internal_ca_trusted(
    tls_fake: FakeGitLab | FakeGitea, pki: dict[str, str]
) -> None:
    assert tls_fake.url.startswith("https://localhost:")
    repo = make_repo(
        _forge_kind(tls_fake),
        tls_fake.url,
        "owner/app",
        ca_file=pki["ca"],
        token=tls_fake.token or "",
    )
    forge = open_forge(
        repo,
        Egress.from_urls([tls_fake.url]),
        retry=FAST,
    )
    assert forge.fetch_merge_request(1).ref.number == 1


def test_unknown_ca_is_refused_for_good(tls_fake: FakeGitLab | FakeGitea, tmp_path: Path) -> None:
    repo = make_repo(_forge_kind(tls_fake), tls_fake.url, "owner/app", token=tls_fake.token or "")
    forge = open_forge(
        repo,
        Egress.from_urls([tls_fake.url]),
        retry=FAST,
    )
    with pytest.raises(ForgeError, match="--ca-file") as info:
        forge.fetch_merge_request(1)
    assert not isinstance(info.value, ForgeUnavailable)
    assert tls_fake.requests == []  # the token never reached an unverified server
