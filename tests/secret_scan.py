"""Test helper: prove that no secret reached the disk in a recognisable form.

`assert_no_plaintext(paths, secrets)` scans files and directories (recursively): SQLite databases
together with their `-wal`, `-shm` and `-journal` files, logs, exports, and tar/gzip archives
(scanned member by member, decompressed). It looks for each secret as raw UTF-8 and UTF-16 bytes,
lower/upper hex, URL-encoding, and base64 (standard and URL-safe, at all three alignments, so a
secret inside a larger base64 blob is found too). The failure message names the file, the form
and the offset, never the secret.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

MIN_SECRET_LEN = 8  # shorter needles match by accident in binary files
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
MAX_DEPTH = 3  # archives inside archives


@dataclass(frozen=True)
class Hit:
    where: str
    secret_index: int
    form: str
    offset: int

    def __str__(self) -> str:
        return f"{self.where}: secret #{self.secret_index} as {self.form} at offset {self.offset}"


def _b64_forms(raw: bytes) -> Iterator[tuple[str, bytes]]:
    for name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for shift in range(3):
            encoded = enc(b"\0" * shift + raw)
            # Drop the characters that depend on the neighbouring bytes on either side.
            start = {0: 0, 1: 2, 2: 3}[shift]
            end = len(encoded) - (4 if (shift + len(raw)) % 3 else 0)
            if end - start >= MIN_SECRET_LEN:
                yield f"{name}/{shift}", encoded[start:end]


def needles(secret: str) -> list[tuple[str, bytes]]:
    """Every recognisable encoding of `secret` as (form name, bytes)."""
    raw = secret.encode()
    forms: list[tuple[str, bytes]] = [
        ("raw", raw),
        ("utf-16-le", secret.encode("utf-16-le")),
        ("hex", raw.hex().encode()),
        ("HEX", raw.hex().upper().encode()),
        *_b64_forms(raw),
    ]
    quoted = quote(secret, safe="").encode()
    if quoted != raw:
        forms.append(("urlencoded", quoted))
    unique: dict[bytes, str] = {}
    for name, needle in forms:
        unique.setdefault(needle, name)
    return [(name, needle) for needle, name in unique.items()]


def _expand(paths: Iterable[Path | str]) -> Iterator[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            yield p
        for suffix in SQLITE_SIDECARS:
            side = p.with_name(p.name + suffix)
            if p.is_file() and side.is_file():
                yield side


def _blobs(where: str, data: bytes, depth: int = 0) -> Iterator[tuple[str, bytes]]:
    """The bytes themselves, plus the decompressed contents of any archive they are."""
    yield where, data
    if depth >= MAX_DEPTH:
        return
    if data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            yield from _blobs(f"{where}!gunzip", gzip.decompress(data), depth + 1)
    if data[257:262] == b"ustar":  # (a .tar.gz arrives here decompressed)
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for member in tar.getmembers():
                    f = tar.extractfile(member) if member.isfile() else None
                    if f is not None:
                        yield from _blobs(f"{where}!{member.name}", f.read(), depth + 1)
        except (tarfile.TarError, OSError, EOFError):
            pass
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for name in zf.namelist():
                    yield from _blobs(f"{where}!{name}", zf.read(name), depth + 1)
        except (zipfile.BadZipFile, OSError):
            pass


def find_plaintext(paths: Iterable[Path | str], secrets: Iterable[str]) -> list[Hit]:
    secret_list = list(secrets)
    for i, s in enumerate(secret_list):
        if len(s) < MIN_SECRET_LEN:
            raise ValueError(f"secret #{i} is shorter than {MIN_SECRET_LEN} characters")
    patterns = [(i, form, b) for i, s in enumerate(secret_list) for form, b in needles(s)]
    hits = []
    files = list(_expand(paths))
    if not files:
        raise ValueError("nothing to scan: none of the paths exist")
    for path in files:
        for where, data in _blobs(str(path), path.read_bytes()):
            for i, form, needle in patterns:
                offset = data.find(needle)
                if offset >= 0:
                    hits.append(Hit(where, i, form, offset))
    return hits


def assert_no_plaintext(paths: Iterable[Path | str], secrets: Iterable[str]) -> None:
    """Fail (naming file, form and offset, never the secret) if any secret is found."""
    hits = find_plaintext(paths, secrets)
    if hits:
        raise AssertionError("secret material found on disk:\n" + "\n".join(map(str, hits)))
