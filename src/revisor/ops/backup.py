"""`revisor backup` and `revisor restore`: consistent copies of the three databases.

Each database is copied with SQLite's online backup API from a read-only connection, so the
copy is a consistent snapshot even while the web server and the worker write (WAL lets a reader
see one committed state for the whole copy). The copies are switched to rollback-journal mode,
checked with `PRAGMA integrity_check`, listed with their sha256 in `manifest.json` (and in
`SHA256SUMS`, for `sha256sum -c`) and packed into a tarball readable by its owner only. The
manifest is signed with the audit signing key (`manifest.sig`, Ed25519): someone who alters a
backup cannot recompute the checksums and pass, and restore checks the signature against a key
it already trusts (the data dir's own, the keys archive's, or a fingerprint the admin pins).
Reading an archive is bounded: at most `MAX_MEMBERS` members and `max_bytes` in all, checked
from the headers before anything is written, so a crafted archive cannot fill the disk.

Keys are not in the tarball: a stolen backup must not decrypt the sealed tokens or forge audit
checkpoints. `include_keys` writes them to a *separate* tarball (`<name>.keys.tar.gz`) meant for
offline storage, apart from the data.

`restore` verifies the signature and every checksum before touching the data dir, refuses to
replace existing databases unless forced, never overwrites a different key with the same name,
and gives restored keys their recorded modification times: the key ring takes the newest key
as the current one, so the order must survive the round trip.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from revisor import __version__
from revisor.audit.keys import (
    SIGNING_KEY_NAME,
    Signer,
    fingerprint,
    load_public_key,
    public_key_pem,
)
from revisor.config import CONFIG_NAME, Settings
from revisor.errors import RevisorError

FORMAT = "revisor-backup/1"
KEYS_FORMAT = "revisor-keys/1"
DATABASES = ("revisor.db", "audit.db", "queue.db")
CONFIG_FILES = (CONFIG_NAME, "models.toml")
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SUMS = "SHA256SUMS"
KEYS_PREFIX = "keys/"
META = (MANIFEST, SIGNATURE, SUMS)
MAX_MEMBERS = 256  # a data backup has 8, a keys archive one per key file
MAX_META_BYTES = 1 << 20  # manifest, signature and sums are small
MAX_ARCHIVE_BYTES = 64 << 30  # the default bound on what one archive may unpack to


class BackupError(RevisorError):
    """A backup could not be written, or an archive is not a sound Revisor backup."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    files: Mapping[str, str]  # name -> sha256
    signed_by: str  # fingerprint of the key that signed the manifest: note it to pin it later
    keys_path: Path | None = None

    def public(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "files": dict(self.files),
            "signed_by": self.signed_by,
            "keys_path": str(self.keys_path) if self.keys_path else None,
        }


@dataclass(frozen=True)
class RestoreResult:
    data_dir: Path
    restored: tuple[str, ...]
    kept: tuple[str, ...] = ()  # files the data dir already had and kept (config)
    keys: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def public(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "restored": list(self.restored),
            "kept": list(self.kept),
            "keys": list(self.keys),
            "notes": list(self.notes),
        }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1024 * 1024):
            h.update(block)
    return h.hexdigest()


def keys_archive_path(out: Path) -> Path:
    name = out.name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if name.endswith(suffix):
            return out.with_name(name[: -len(suffix)] + ".keys.tar.gz")
    return out.with_name(name + ".keys.tar.gz")


# --- backup -------------------------------------------------------------------------------------


def snapshot_database(src: Path, dst: Path) -> None:
    """Copy one live database with the online backup API into a standalone file."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(str(dst))
    try:
        source.backup(target)  # all pages in one step: one consistent snapshot
        target.execute("PRAGMA journal_mode = DELETE")
        rows = [r[0] for r in target.execute("PRAGMA integrity_check").fetchall()]
    finally:
        target.close()
        source.close()
    if rows != ["ok"]:
        raise BackupError(f"{src} copied with errors: {'; '.join(rows[:3])}; nothing written")


def backup(settings: Settings, out: Path, *, include_keys: bool = False) -> BackupResult:
    out = out.resolve()
    keys_out = keys_archive_path(out) if include_keys else None
    for target in (out, keys_out):
        if target is not None and target.exists():
            raise BackupError(f"{target} exists; choose another name (backups are not overwritten)")
    missing = [n for n in DATABASES if not (settings.data_dir / n).exists()]
    if missing:
        raise BackupError(
            f"{settings.data_dir} has no {', '.join(missing)}; is it a Revisor data dir?"
        )
    signer = Signer.load(settings.keys_dir / SIGNING_KEY_NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".revisor-backup-", dir=out.parent) as tmp:
        stage = Path(tmp)
        for name in DATABASES:
            snapshot_database(settings.data_dir / name, stage / name)
        for name in CONFIG_FILES:
            src = settings.data_dir / name
            if src.is_file():  # follows the appliance's /etc/revisor symlink
                shutil.copyfile(src, stage / name)
        files = _pack(stage, out, FORMAT, signer, {"data_dir": str(settings.data_dir)})
        if keys_out is not None:
            keys_stage = stage / "keys"
            shutil.copytree(settings.keys_dir, keys_stage)  # copy2: modification times kept
            _pack(keys_stage, keys_out, KEYS_FORMAT, signer, {}, prefix=KEYS_PREFIX)
    return BackupResult(out, files, fingerprint(signer.public), keys_out)


def _pack(
    stage: Path,
    out: Path,
    fmt: str,
    signer: Signer,
    extra: Mapping[str, Any],
    *,
    prefix: str = "",
) -> dict[str, str]:
    """Write `stage`'s files + signed manifest + SHA256SUMS into `out` (0600, atomically)."""
    files = {
        prefix + p.name: sha256_file(p)
        for p in sorted(stage.iterdir())
        if p.is_file() and p.name not in META
    }
    manifest = {
        "format": fmt,
        "revisor_version": __version__,
        "created_at": time.time(),
        **extra,
        "signing_key": {
            "fingerprint": fingerprint(signer.public),
            "public_pem": public_key_pem(signer.public).decode("ascii"),
        },
        "files": {n: _entry(stage / n.removeprefix(prefix), h) for n, h in files.items()},
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    sums = "".join(f"{h}  {n}\n" for n, h in files.items())
    partial = out.with_name(f".{out.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add_bytes(tar, MANIFEST, manifest_bytes)
            _add_bytes(tar, SIGNATURE, signer.sign(manifest_bytes))
            _add_bytes(tar, SUMS, sums.encode())
            for name in files:
                tar.add(stage / name.removeprefix(prefix), arcname=name, recursive=False)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return files


def _entry(path: Path, sha256: str) -> dict[str, Any]:
    st = path.stat()
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


# --- reading and verifying an archive -----------------------------------------------------------


@dataclass(frozen=True)
class Unpacked:
    root: Path  # a private temp dir holding the verified files
    manifest: dict[str, Any]
    signed_by: str  # the signing key's fingerprint


def local_signing_key(keys_dir: Path) -> str | None:
    """The fingerprint of a data dir's own audit signing key, if it has one."""
    path = keys_dir / SIGNING_KEY_NAME
    return fingerprint(Signer.load(path).public) if path.is_file() else None


def _members(tar: tarfile.TarFile, archive: Path, root: Path, max_bytes: int) -> Iterator[Any]:
    """The archive's members, refused from their headers before any byte is written when there
    are too many, one is too big, or together they pass `max_bytes` or the free disk space."""
    total = 0
    for count, member in enumerate(tar, 1):
        if count > MAX_MEMBERS:
            raise BackupError(f"{archive}: more than {MAX_MEMBERS} members; refusing it")
        total += member.size
        cap = MAX_META_BYTES if member.name in META else max_bytes
        if member.size > cap or total > max_bytes:
            raise BackupError(
                f"{archive}: {member.name!r} would unpack past the limit of {max_bytes} bytes; "
                "refusing it"
            )
        if member.size > shutil.disk_usage(root).free:
            raise BackupError(f"{archive}: not enough free space in {root} for {member.name!r}")
        yield member


def _no_trusted_key(archive: Path) -> BackupError:
    return BackupError(
        f"{archive}: no trusted key to check its signature: restore into the data dir that "
        "made it, pass the keys archive (--keys), or pin the key (--fingerprint sha256:...)"
    )


def _check_signature(archive: Path, root: Path, trusted: str | None) -> str:
    """Verify `manifest.sig`; return the signer's fingerprint.

    With `trusted` (a pinned fingerprint) the manifest must be signed by that key. Without it
    (a keys archive on a fresh machine) the key must be the signing key the archive itself
    carries, so the keys archive vouches for itself and then anchors the data backup.
    """
    try:
        manifest_bytes = (root / MANIFEST).read_bytes()
        signature = (root / SIGNATURE).read_bytes()
        pem = json.loads(manifest_bytes)["signing_key"]["public_pem"]
        public: Ed25519PublicKey = load_public_key(pem.encode("ascii"))
    except FileNotFoundError as exc:
        raise BackupError(f"{archive}: no {Path(exc.filename).name}: an unsigned archive") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(f"{archive}: unreadable signing key in {MANIFEST}: {exc}") from None
    signed_by = fingerprint(public)
    if trusted is None:
        own = root / KEYS_PREFIX / SIGNING_KEY_NAME
        trusted = fingerprint(Signer.load(own).public) if own.is_file() else None
    if trusted is None:
        raise _no_trusted_key(archive)
    if signed_by != trusted:
        raise BackupError(f"{archive}: signed by {signed_by}, not by the trusted key {trusted}")
    try:
        public.verify(signature, manifest_bytes)
    except InvalidSignature:
        raise BackupError(f"{archive}: the manifest's signature does not verify") from None
    return signed_by


@contextmanager
def _extracted(
    archive: Path,
    fmt: str,
    allowed: tuple[str, ...] | None,
    trusted: str | None,
    max_bytes: int = MAX_ARCHIVE_BYTES,
) -> Iterator[Unpacked]:
    """Extract a verified archive into a private temp dir.

    Only regular files with expected names are accepted (no links, no paths outside), within
    the size bounds; the manifest's signature must verify against `trusted`
    (`_check_signature`), every file must be in the manifest with the right sha256, and every
    manifest entry must exist.
    """
    try:
        tar = tarfile.open(archive, "r:gz")  # noqa: SIM115 (closed by the `with` below)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{archive}: not a readable backup: {exc}") from None
    with tar, tempfile.TemporaryDirectory(prefix=".revisor-restore-") as tmp:
        root = Path(tmp)
        names: list[str] = []
        try:
            for member in _members(tar, archive, root, max_bytes):
                name = member.name
                ok_key = name.startswith(KEYS_PREFIX) and "/" not in name[len(KEYS_PREFIX) :]
                ok_name = name in META or (name in allowed if allowed is not None else ok_key)
                if not member.isfile() or not ok_name or ".." in name:
                    hint = (
                        " (this is a keys file: pass it with --keys)" if allowed and ok_key else ""
                    )
                    raise BackupError(f"{archive}: unexpected member {name!r}; refusing it{hint}")
                source = tar.extractfile(member)
                if source is None:
                    raise BackupError(f"{archive}: cannot read {name}")
                dest = root / name
                dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    shutil.copyfileobj(source, f)
                names.append(name)
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise BackupError(f"{archive}: not a readable backup: {exc}") from None
        try:
            manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BackupError(f"{archive}: no readable {MANIFEST}: {exc}") from None
        if manifest.get("format") != fmt:
            raise BackupError(
                f"{archive}: format {manifest.get('format')!r}, expected {fmt!r}"
                + (" (is this the keys file?)" if fmt == FORMAT else "")
            )
        signed_by = _check_signature(archive, root, trusted)
        listed: dict[str, Any] = manifest.get("files") or {}
        for name, entry in listed.items():
            path = root / name
            if ".." in name or not path.is_file():
                raise BackupError(f"{archive}: {name} is listed in the manifest but missing")
            actual = sha256_file(path)
            if actual != entry.get("sha256"):
                raise BackupError(
                    f"{archive}: checksum mismatch for {name} (the archive is damaged or was "
                    "altered); nothing restored"
                )
        extra = set(names) - set(listed) - set(META)
        if extra:
            raise BackupError(f"{archive}: files not in the manifest: {', '.join(sorted(extra))}")
        yield Unpacked(root, manifest, signed_by)


def verify_archive(
    archive: Path, trusted: str | None, *, max_bytes: int = MAX_ARCHIVE_BYTES
) -> dict[str, Any]:
    """Check a backup's signature (against the pinned `trusted` fingerprint) and checksums
    without restoring it; returns its manifest."""
    if trusted is None:
        raise _no_trusted_key(archive)
    with _extracted(archive, FORMAT, DATABASES + CONFIG_FILES, trusted, max_bytes) as got:
        return got.manifest


# --- restore ------------------------------------------------------------------------------------


def restore(
    archive: Path,
    data_dir: Path,
    *,
    keys_archive: Path | None = None,
    force: bool = False,
    trusted: str | None = None,
    max_bytes: int = MAX_ARCHIVE_BYTES,
) -> RestoreResult:
    """Restore the databases (and keys, if given) into `data_dir`. Stop the services first.

    The archives must be signed by `trusted` (a pinned fingerprint), else by the data dir's own
    signing key, else by the signing key inside `keys_archive`.
    """
    present = [n for n in (*DATABASES, CONFIG_NAME) if (data_dir / n).exists()]
    if any(n in DATABASES for n in present) and not force:
        raise BackupError(
            f"{data_dir} already holds {', '.join(present)}; refusing to overwrite it "
            "(stop the services, take a backup of it, then pass --force)"
        )
    trusted = trusted or local_signing_key(data_dir / "keys")
    restored: list[str] = []
    kept: list[str] = []
    notes: list[str] = []
    keys: list[str] = []
    with contextlib.ExitStack() as stack:
        key_files = None
        if keys_archive is not None:
            key_files = stack.enter_context(
                _extracted(keys_archive, KEYS_FORMAT, None, trusted, max_bytes)
            )
            trusted = key_files.signed_by
        if trusted is None:
            raise _no_trusted_key(archive)
        root = stack.enter_context(
            _extracted(archive, FORMAT, DATABASES + CONFIG_FILES, trusted, max_bytes)
        ).root
        missing = [n for n in DATABASES if not (root / n).is_file()]
        if missing:
            raise BackupError(f"{archive}: no {', '.join(missing)} in the backup")
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for sub in ("keys", "logs"):
            (data_dir / sub).mkdir(exist_ok=True, mode=0o700)
        if key_files is not None:
            keys = _restore_keys(key_files, data_dir / "keys", force=force)
        for name in DATABASES:
            staged = data_dir / f".{name}.restoring"
            shutil.copyfile(root / name, staged)
            os.chmod(staged, 0o600)
            for suffix in ("-wal", "-shm", "-journal"):
                (data_dir / (name + suffix)).unlink(missing_ok=True)
            os.replace(staged, data_dir / name)
            restored.append(name)
        for name in CONFIG_FILES:
            if not (root / name).is_file():
                continue
            target = data_dir / name
            if target.exists():
                copy = data_dir / f"{name}.from-backup"
                shutil.copyfile(root / name, copy)
                kept.append(name)
                notes.append(f"kept the current {name}; the backup's copy is {copy}")
            else:
                shutil.copyfile(root / name, target)
                os.chmod(target, 0o640)
                restored.append(name)
    if not list((data_dir / "keys").glob("kek-*.key")):
        notes.append(
            "no key-encryption key in keys/: restore it (--keys FILE) or the stored tokens "
            "cannot be decrypted; `revisor doctor` checks this"
        )
    return RestoreResult(data_dir, tuple(restored), tuple(kept), tuple(keys), tuple(notes))


def _restore_keys(unpacked: Unpacked, keys_dir: Path, *, force: bool) -> list[str]:
    """Copy the verified key files in, each with its recorded modification time (the key ring
    takes the newest key-encryption key as the current one)."""
    out = []
    listed: dict[str, Any] = unpacked.manifest.get("files") or {}
    for name, entry in sorted(listed.items()):
        src = unpacked.root / name
        dest = keys_dir / src.name
        if dest.exists() and dest.read_bytes() != src.read_bytes() and not force:
            raise BackupError(
                f"{dest} exists with a different content; refusing to replace a key "
                "(move it away first if you really mean it)"
            )
        tmp = keys_dir / f".{src.name}.restoring"
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o600)
        mtime_ns = entry.get("mtime_ns")
        if isinstance(mtime_ns, int):
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
        os.replace(tmp, dest)
        out.append(src.name)
    return out
