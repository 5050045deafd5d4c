"""The audit signing key (Ed25519) that signs checkpoints and exports.

It lives in `<data dir>/keys/audit_ed25519.pem` (mode 0600), outside the audit database: someone
who can rewrite `audit.db` can recompute the hash chain, but cannot forge the signed checkpoints
without this file. Auditors pin the key by its fingerprint (`sha256:<hex>` of the raw public key),
which `revisor audit verify` prints.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from revisor.errors import ConfigError
from revisor.secrets import write_private_file

SIGNING_KEY_NAME = "audit_ed25519.pem"


def ensure_signing_key(keys_dir: Path) -> Path:
    """Create the audit signing key if it does not exist yet (idempotent); return its path.

    Called by `revisor init`. An existing key is never replaced: old checkpoints were signed
    with it.
    """
    path = keys_dir / SIGNING_KEY_NAME
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private_file(path, pem)
    return path


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: Ed25519PublicKey) -> str:
    """`sha256:<hex>` of the raw 32-byte public key: what an auditor compares and pins."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def key_id(key: Ed25519PublicKey) -> str:
    """Short id stored with each checkpoint (first 16 hex digits of the fingerprint)."""
    return fingerprint(key)[len("sha256:") : len("sha256:") + 16]


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ValueError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return key


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key with the few operations the audit trail needs."""

    private: Ed25519PrivateKey

    @classmethod
    def load(cls, path: Path) -> Signer:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"audit signing key {path} is missing; run `revisor init`") from None
        except OSError as exc:
            raise ConfigError(f"cannot read audit signing key {path}: {exc.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError:
            raise ConfigError(f"{path} is not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{path} is not an Ed25519 key")
        return cls(key)

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id})"
