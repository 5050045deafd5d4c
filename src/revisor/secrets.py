"""Secrets at rest: AES-256-GCM envelope encryption.

Each value gets its own random data key (DEK); the DEK is wrapped with the key-encryption key
(KEK) that lives in a 0600 file under `<data dir>/keys/`, outside the database and outside backups.
The associated data binds a ciphertext to its row and field (`repos:12:token`), so a blob copied
into another row or field does not decrypt.

Blob layout (all binary): b"RV1" | kek_id (8 bytes) | dek_nonce (12) | wrapped_dek (48)
| nonce (12) | ciphertext+tag.

Rotation (`rotate`): a new KEK is created and every column listed in `SEALED_COLUMNS` is
re-sealed with it in one transaction; afterwards the old key files can be deleted.
"""

from __future__ import annotations

import contextlib
import os
import secrets as _secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
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
        write_private_file(
            keys_dir / f"{KEK_PREFIX}{key_id.hex()}{KEK_SUFFIX}", AESGCM.generate_key(256)
        )
        return key_id

    def seal(self, plaintext: str | bytes, aad: bytes) -> bytes:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        dek = AESGCM.generate_key(256)
        dek_nonce, nonce = os.urandom(12), os.urandom(12)
        wrapped = AESGCM(self.keys[self.current]).encrypt(
            dek_nonce, dek, MAGIC + self.current + aad
        )
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


# --- key rotation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedColumn:
    """One encrypted column: where it is, and how its associated data (`aad_for`) is built.

    `row_key_sql` is an SQL expression over the row that yields the same row key the writer
    passed to `aad_for(table, row_key, field)`.
    """

    table: str
    row_key_sql: str
    field: str
    column: str


_REPO_KEY = "forge || ':' || server || ':' || project"  # = revisor.store.repos.row_key()

# Every sealed column in the database, in one place. A module that adds a sealed column adds
# it here, or `revisor keys rotate` will refuse to delete the old key (it is still in use).
SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn("repos", _REPO_KEY, "token", "token_enc"),
    SealedColumn("repos", _REPO_KEY, "webhook_secret", "webhook_secret_enc"),
    SealedColumn("repos", _REPO_KEY, "signing_secret", "signing_secret_enc"),
    SealedColumn("model_endpoints", "id", "api_key", "api_key_enc"),
    SealedColumn("transcripts", "entry_key", "body", "body_enc"),
    SealedColumn("git_servers", "url", "token", "token_enc"),
)


@dataclass(frozen=True)
class Rotation:
    new_key_id: bytes
    old_key_ids: tuple[bytes, ...]
    resealed: int

    def old_key_files(self, keys_dir: Path) -> tuple[Path, ...]:
        return tuple(key_path(keys_dir, k) for k in self.old_key_ids)


def key_path(keys_dir: Path, key_id: bytes) -> Path:
    return keys_dir / f"{KEK_PREFIX}{key_id.hex()}{KEK_SUFFIX}"


def _present(conn: sqlite3.Connection, columns: Sequence[SealedColumn]) -> list[SealedColumn]:
    """The sealed columns that exist in this database (optional tables may not)."""
    out = []
    for col in columns:
        names = {row[1] for row in conn.execute(f'PRAGMA table_info("{col.table}")')}
        if col.column in names:
            out.append(col)
    return out


def key_ids_in_use(
    conn: sqlite3.Connection, columns: Sequence[SealedColumn] = SEALED_COLUMNS
) -> set[bytes]:
    used: set[bytes] = set()
    for col in _present(conn, columns):
        sql = f'SELECT DISTINCT substr("{col.column}", 4, 8) FROM "{col.table}"'  # noqa: S608
        used |= {row[0] for row in conn.execute(sql + f' WHERE "{col.column}" IS NOT NULL')}
    return used


def rotate(
    conn: sqlite3.Connection,
    keys_dir: Path,
    columns: Sequence[SealedColumn] = SEALED_COLUMNS,
    *,
    before_commit: Callable[[Rotation], None] | None = None,
) -> Rotation:
    """Create a new KEK and re-seal every sealed column with it, in one transaction.

    Each value is decrypted with its row- and field-bound associated data first, so a value
    that does not decrypt (wrong AAD declared in SEALED_COLUMNS, tampered blob) aborts the
    whole rotation: nothing is changed and the new key file is removed again.

    `before_commit` runs inside the transaction, just before it commits: the CLI writes the
    `keys.rotated` audit record there, so a rotation that cannot be audited does not happen.

    Processes that already hold the key ring in memory must be restarted to see the new key.
    """
    old = KeyRing.load(keys_dir)
    new_id = KeyRing.create_key(keys_dir)
    new_path = key_path(keys_dir, new_id)
    # KeyRing.load() picks the newest file as current: make sure that is the new one, even on
    # file systems with coarse timestamps.
    newest_old = max(key_path(keys_dir, k).stat().st_mtime_ns for k in old.keys)
    stamp = max(time.time_ns(), newest_old + 1_000_000_000)
    os.utime(new_path, ns=(stamp, stamp))
    ring = KeyRing({**old.keys, new_id: new_path.read_bytes()}, new_id)
    resealed = 0
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            for col in _present(conn, columns):
                rows = conn.execute(
                    f'SELECT rowid, {col.row_key_sql}, "{col.column}" FROM "{col.table}"'  # noqa: S608
                    f' WHERE "{col.column}" IS NOT NULL'
                ).fetchall()
                for rowid, row_key, blob in rows:
                    aad = aad_for(col.table, row_key, col.field)
                    try:
                        plaintext = ring.open(blob, aad)
                    except SecretError as exc:
                        raise SecretError(
                            f"{col.table}.{col.column} row {rowid}: {exc}; nothing was rotated"
                        ) from None
                    conn.execute(
                        f'UPDATE "{col.table}" SET "{col.column}" = ? WHERE rowid = ?',  # noqa: S608
                        [ring.seal(plaintext, aad), rowid],
                    )
                    resealed += 1
            rotation = Rotation(new_id, tuple(sorted(old.keys)), resealed)
            if before_commit is not None:
                before_commit(rotation)
    except BaseException:
        new_path.unlink(missing_ok=True)
        raise
    return rotation


def delete_old_keys(
    conn: sqlite3.Connection,
    keys_dir: Path,
    rotation: Rotation,
    columns: Sequence[SealedColumn] = SEALED_COLUMNS,
) -> list[Path]:
    """Delete the key files a rotation replaced, refusing any that a stored value still uses."""
    still_used = key_ids_in_use(conn, columns) & set(rotation.old_key_ids)
    if still_used:
        ids = ", ".join(k.hex() for k in sorted(still_used))
        raise SecretError(f"key(s) {ids} still encrypt stored values; not deleting them")
    deleted = []
    for path in rotation.old_key_files(keys_dir):
        if path.exists():
            path.unlink()
            deleted.append(path)
    return deleted


SIDECAR_KEY_FILE = "sidecar-api.key"  # in <data dir>/keys/, next to the key-encryption keys


def ensure_api_key(path: Path) -> str:
    """The sidecar's API key: read from its 0600 file, created on first use."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process created it first
            write_private_file(path, _secrets.token_urlsafe(32).encode())
    return read_secret_file(path)
