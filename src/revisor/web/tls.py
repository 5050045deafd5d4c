"""HTTPS without a proxy: the certificate `revisor serve` hands to Granian.

`revisor init --self-signed-tls` makes one for appliances that have no internal CA yet: an
ECDSA P-256 key (mode 0600, created exclusively, never overwritten) and a self-signed
certificate whose subjectAltName holds the host name(s) and 127.0.0.1. Git servers and browsers
then pin that certificate (GitLab: the CA file of the webhook; browsers: an exception or the
system store). Replace both files with a certificate from the site's CA when there is one.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from revisor.errors import ConfigError
from revisor.secrets import write_private_file

VALID_DAYS = 825  # the longest validity Apple platforms accept for a server certificate
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"{LABEL}(?:\.{LABEL})*")
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "")  # noqa: S104 (names, not a bind)


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path
    hostnames: tuple[str, ...]
    created: bool


def default_hostnames(public_url: str) -> tuple[str, ...]:
    """This machine's name, and the host of `public_url` unless that is a loopback one; names
    a certificate cannot hold are left out (an installer must not fail on a odd host name)."""
    names: list[str] = []
    for host in (socket.getfqdn(), urlsplit(public_url).hostname or ""):
        if host not in LOCAL_NAMES and host not in names and _usable(host):
            names.append(host)
    return tuple(names) or ("localhost",)


def _usable(hostname: str) -> bool:
    try:
        _general_name(hostname)
    except ConfigError:
        return False
    return True


def _general_name(hostname: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        pass
    if len(hostname) > 253 or not HOSTNAME.fullmatch(hostname):
        raise ConfigError(f"not a usable host name for a certificate: {hostname!r}")
    return x509.DNSName(hostname)


def _san(hostnames: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for general in (*map(_general_name, hostnames), _general_name("127.0.0.1")):
        if general not in names:
            names.append(general)
    return x509.SubjectAlternativeName(names)


def self_signed(
    hostnames: Sequence[str], now: datetime.datetime | None = None
) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for `hostnames` and 127.0.0.1."""
    if not hostnames:
        raise ConfigError("a certificate needs at least one host name")
    san = _san(hostnames)  # validates every name before any key is made
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0][:64])])
    start = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(minutes=5)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=VALID_DAYS))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_self_signed(cert: Path, key: Path, hostnames: Sequence[str]) -> CertFiles:
    """Create the pair if neither file exists; keep an existing pair; refuse half of one."""
    if cert.exists() and key.exists():
        return CertFiles(cert, key, tuple(hostnames), created=False)
    if cert.exists() or key.exists():
        present = cert if cert.exists() else key
        raise ConfigError(
            f"{present} exists but its partner does not; remove it or supply both files"
        )
    cert_pem, key_pem = self_signed(hostnames)
    write_private_file(key, key_pem)
    cert.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(cert, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(cert_pem)
    return CertFiles(cert, key, tuple(hostnames), created=True)


def check_readable(cert: Path, key: Path) -> tuple[Path, Path]:
    """The files `revisor serve` needs, or a clear error before Granian starts."""
    paths = (cert, key)
    for label, path in zip(("tls_cert", "tls_key"), paths, strict=True):
        try:
            with path.open("rb") as f:
                head = f.read(1_000_000)
        except OSError as exc:
            raise ConfigError(f"[web] {label} {path}: {exc.strerror}") from None
        if b"-----BEGIN" not in head:
            raise ConfigError(f"[web] {label} {path}: not a PEM file")
    return paths
