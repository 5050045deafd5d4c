"""The dashboard's export download (`<name>/…` in a .tar.gz), unpacked for `audit verify`.

An auditor verifies what they downloaded, so the archive is untrusted input: only regular
files are taken, each under the one top folder, with no absolute path, no `..`, no link and
no device; sizes are capped. Anything else is refused with a clear error before a byte is
written.
"""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath

from revisor.errors import RevisorError

MAX_MEMBERS = 64
MAX_BYTES = 2 * 1024**3  # an export of years of records is well below this


class BundleError(RevisorError):
    """The file is not an export bundle Revisor made."""


def unpack(path: Path, into: Path) -> Path:
    """Extract the bundle into `into`; returns the export directory inside it."""
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{path} is not a readable .tar.gz export: {exc}") from None
    with tar:
        members = tar.getmembers()
        if not members or len(members) > MAX_MEMBERS:
            raise BundleError(f"{path}: {len(members)} entries; an export has a handful")
        tops: set[str] = set()
        total = 0
        for m in members:
            name = PurePosixPath(m.name)
            if name.is_absolute() or ".." in name.parts or not name.parts:
                raise BundleError(f"{path}: refused entry {m.name!r} (outside the bundle)")
            if m.isdir():
                tops.add(name.parts[0])
                continue
            if not m.isfile():
                raise BundleError(f"{path}: refused entry {m.name!r} (not a regular file)")
            if len(name.parts) != 2:
                raise BundleError(f"{path}: unexpected entry {m.name!r}")
            tops.add(name.parts[0])
            total += m.size
        if len(tops) != 1 or total > MAX_BYTES:
            raise BundleError(f"{path}: not one export folder (found {sorted(tops)[:3]})")
        top = next(iter(tops))
        out = into / top
        out.mkdir(parents=True)
        for m in members:
            if not m.isfile():
                continue
            source = tar.extractfile(m)
            if source is None:
                raise BundleError(f"{path}: cannot read {m.name!r}")
            with source, open(out / PurePosixPath(m.name).parts[1], "xb") as dest:
                dest.write(source.read())
    return out
