"""Secrets at rest: AES-256-GCM envelope encryption.

Each value gets its own random data key (DEK); the DEK is wrapped with the key-encryption key
(KEK) that lives in a 0600 file under `<data dir>/keys/`, outside the database and outside backups.
The associated data binds a ciphertext to its row and field (`repos:12:token`), so a blob copied
into another row or field does not decrypt.

Blob layout (all binary): b"RV1" | kek_id (8 bytes) | dek_nonce (12) | wrapped_dek (48)
| nonce (12) | ciphertext+tag.
"""

from __future__ import annotations

import os
import secrets as _secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from revisor.errors import ConfigError, RevisorError

MAGIC = b"RV1"
KEK_PREFIX = "kek-"
KEK_SUFFIX = ".key"


class SecretError(RevisorError):
    """A stored secret could not be decrypted (wrong key, wrong row, or tampered)."""


def aad_for(table: str, row_key: str | int, field: str) -> bytes:
    return f"{table}:{row_key}:{field}".encode()


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 atomically; never overwrite an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def read_secret_file(path: str | Path) -> str:
    """Read a secret an admin handed us in a file (token, password). Strips one trailing newline."""
    p = Path(path)
    try:
        value = p.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"cannot read secret file {p}: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"secret file {p} is empty")
    return value


@dataclass(frozen=True)
class KeyRing:
    """The KEKs found in the keys directory; the newest one (`current`) encrypts."""

    keys: dict[bytes, bytes]
    current: bytes

    @classmethod
    def load(cls, keys_dir: Path) -> KeyRing:
        found: dict[bytes, tuple[float, bytes]] = {}
        for path in sorted(keys_dir.glob(f"{KEK_PREFIX}*{KEK_SUFFIX}")):
            key_id = bytes.fromhex(path.name[len(KEK_PREFIX) : -len(KEK_SUFFIX)])
            data = path.read_bytes()
            if len(data) != 32:
                raise ConfigError(f"{path}: a key file must hold 32 bytes")
            found[key_id] = (path.stat().st_mtime_ns, data)
        if not found:
            raise ConfigError(f"no key-encryption key in {keys_dir}; run `revisor init`")
        current = max(found, key=lambda k: (found[k][0], k))
        return cls({k: v for k, (_, v) in found.items()}, current)

    @staticmethod
    def create_key(keys_dir: Path) -> bytes:
        key_id = _secrets.token_bytes(8)
        write_private_file(keys_dir / f"{KEK_PREFIX}{key_id.hex()}{KEK_SUFFIX}", AESGCM.generate_key(256))
        return key_id

    def seal(self, plaintext: str | bytes, aad: bytes) -> bytes:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        dek = AESGCM.generate_key(256)
        dek_nonce, nonce = os.urandom(12), os.urandom(12)
        wrapped = AESGCM(self.keys[self.current]).encrypt(dek_nonce, dek, MAGIC + self.current + aad)
        body = AESGCM(dek).encrypt(nonce, data, aad)
        return MAGIC + self.current + dek_nonce + wrapped + nonce + body

    def open(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < 3 + 8 + 12 + 48 + 12 + 16 or blob[:3] != MAGIC:
            raise SecretError("not an encrypted secret")
        key_id = blob[3:11]
        kek = self.keys.get(key_id)
        if kek is None:
            raise SecretError(f"secret was encrypted with key {key_id.hex()}, which is not present")
        dek_nonce, wrapped = blob[11:23], blob[23:71]
        nonce, body = blob[71:83], blob[83:]
        try:
            dek = AESGCM(kek).decrypt(dek_nonce, wrapped, MAGIC + key_id + aad)
            return AESGCM(dek).decrypt(nonce, body, aad)
        except InvalidTag:
            raise SecretError("secret does not decrypt for this row and field") from None

    def open_str(self, blob: bytes, aad: bytes) -> str:
        return self.open(blob, aad).decode()

    def key_id_of(self, blob: bytes) -> bytes:
        return blob[3:11]
