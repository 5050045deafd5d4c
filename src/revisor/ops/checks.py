"""The checks behind `revisor doctor`: each looks at one thing and says how to fix what is wrong.

Each function returns `Check`s and never raises for the condition it checks (an unexpected
exception becomes a failed check in `revisor.ops.doctor`). The file-level checks (permissions,
keys, database integrity, migrations) open nothing for writing, so the doctor does not "heal" a
data dir by looking at it: a pending migration stays visible until `revisor init` applies it.
"""

from __future__ import annotations

import shutil
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from revisor import forges
from revisor.config import LdapSettings, Settings
from revisor.egress import Egress, allowlist_from
from revisor.errors import ConfigError, EgressDenied, RevisorError
from revisor.forges import ForgeTarget
from revisor.inference import manifest as model_manifest
from revisor.secrets import KEK_PREFIX, KEK_SUFFIX, KeyRing
from revisor.store.db import pending_migrations

GIB = 1024**3
CLOCK_SKEW_LIMIT = 60.0  # seconds; signed GitLab webhooks tolerate 300, audit timestamps less
_INIT_FIX = (
    "run `revisor init --data-dir {d}` (it creates what is missing and changes nothing else)"
)
_RESTORE_FIX = "restore the last good backup: `revisor restore FILE --data-dir {d} --force`"


@dataclass(frozen=True)
class Check:
    """One finding of the doctor. `fix` is a command or an instruction, empty when ok."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False

    def public(self) -> dict[str, Any]:
        return asdict(self)


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


def skipped(name: str, detail: str) -> Check:
    return Check(name, True, detail, skipped=True)


# --- files --------------------------------------------------------------------------------------


def _loose(path: Path) -> int:
    """The group/other permission bits of `path` (0 when only the owner has access)."""
    return stat.S_IMODE(path.stat().st_mode) & 0o077


def check_permissions(settings: Settings) -> list[Check]:
    """Data dir and keys dir 0700, every file under keys/ 0600: secrets for the owner alone."""
    d = settings.data_dir
    if not d.is_dir():
        return [failed("permissions", f"{d} does not exist", _INIT_FIX.format(d=d))]
    problems: list[str] = []
    fixes: list[str] = []
    for directory in (d, settings.keys_dir, settings.log_dir):
        # With `revisor signer`, group x on the data dir lets it reach audit.db (0640).
        allowed = 0o010 if directory == d and settings.audit.signer_socket else 0
        if directory.is_dir() and _loose(directory) & ~allowed:
            mode = stat.S_IMODE(directory.stat().st_mode)
            problems.append(f"{directory} is {mode:04o}")
            fixes.append(f"chmod 0700 {directory}")
    if settings.keys_dir.is_dir():
        for f in sorted(settings.keys_dir.iterdir()):
            if f.is_file() and _loose(f):
                problems.append(f"{f} is {stat.S_IMODE(f.stat().st_mode):04o}")
                fixes.append(f"chmod 0600 {f}")
    for f in (settings.db_path, settings.audit_path, settings.queue_path):
        if f.exists() and stat.S_IMODE(f.stat().st_mode) & 0o007:
            problems.append(f"{f} is readable by others")
            fixes.append(f"chmod o-rwx {f}")
    if problems:
        return [failed("permissions", "; ".join(problems), "; ".join(fixes))]
    return [passed("permissions", f"{d} and its keys are private to their owner")]


def check_keys(settings: Settings) -> list[Check]:
    """The key-encryption key(s) and the audit signing key are present and well-formed."""
    from revisor.audit.keys import SIGNING_KEY_NAME, Signer

    d = settings.data_dir
    out: list[Check] = []
    keks = sorted(settings.keys_dir.glob(f"{KEK_PREFIX}*{KEK_SUFFIX}"))
    try:
        ring = KeyRing.load(settings.keys_dir)
        out.append(
            passed("keys:kek", f"{len(keks)} key-encryption key(s), current {ring.current.hex()}")
        )
    except (ConfigError, ValueError, OSError) as exc:
        fix = (
            "restore keys/ from your offline key backup (secrets sealed with a lost key cannot "
            "be decrypted: re-register repositories with `revisor repo add` after "
            + _INIT_FIX.format(d=d)
            + ")"
        )
        out.append(failed("keys:kek", str(exc), fix))
    if settings.audit.signer_socket:
        out.append(_check_signer(settings.audit.signer_socket))
        return out
    signing = settings.keys_dir / SIGNING_KEY_NAME
    try:
        Signer.load(signing)
        out.append(passed("keys:audit", f"{signing} is an Ed25519 key"))
    except ConfigError as exc:
        out.append(
            failed(
                "keys:audit",
                str(exc),
                "restore keys/audit_ed25519.pem from your key backup; without it "
                + _INIT_FIX.format(d=d)
                + " creates a new one (auditors must then pin the new fingerprint)",
            )
        )
    return out


def _check_signer(socket_path: str) -> Check:
    """The audit signing key is held by `revisor signer`: it answers with its public key."""
    from revisor.audit.keys import fingerprint
    from revisor.audit.notary import RemoteSigner, SignerError

    try:
        fp = fingerprint(RemoteSigner(Path(socket_path), timeout=5).public_key())
    except SignerError as exc:
        return failed(
            "keys:audit",
            str(exc),
            "systemctl start revisor-signer (journalctl -u revisor-signer says why it stopped)",
        )
    return passed("keys:audit", f"held by revisor signer at {socket_path} (key {fp})")


def _open_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def check_database(path: Path, data_dir: Path) -> Check:
    """`PRAGMA integrity_check` on one database, opened read-only."""
    name = f"database:{path.name}"
    if not path.exists():
        return failed(name, f"{path} does not exist", _INIT_FIX.format(d=data_dir))
    try:
        conn = _open_ro(path)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return failed(name, f"{path}: {exc}", _RESTORE_FIX.format(d=data_dir))
    if rows != ["ok"]:
        return failed(
            name, f"{path}: integrity check: {'; '.join(rows[:3])}", _RESTORE_FIX.format(d=data_dir)
        )
    return passed(name, f"{path} integrity ok")


def check_migrations(settings: Settings) -> Check:
    """Migrations not yet applied to revisor.db (read-only: the doctor never migrates)."""
    path = settings.db_path
    try:
        conn = _open_ro(path)
        try:
            pending = pending_migrations(sqlite_utils.Database(conn))
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return failed(
            "migrations", f"cannot read {path}: {exc}", _RESTORE_FIX.format(d=path.parent)
        )
    if pending:
        return failed(
            "migrations",
            f"{len(pending)} pending: {', '.join(pending)}",
            "stop the services, take a backup (`revisor backup`), then "
            + _INIT_FIX.format(d=settings.data_dir)
            + " to apply them",
        )
    return passed("migrations", "schema is up to date")


def check_queue(settings: Settings) -> Check:
    from revisor.worker.queue import Queue

    try:
        depth = Queue(settings).depth()
    except Exception as exc:  # Huey raises sqlite3 and its own errors alike
        return failed(
            "queue", f"{settings.queue_path}: {exc}", _RESTORE_FIX.format(d=settings.data_dir)
        )
    return passed("queue", f"{depth} job id(s) waiting")


def check_disk(path: Path, *, min_free: int = GIB, min_ratio: float = 0.05) -> Check:
    usage = shutil.disk_usage(path if path.exists() else path.parent)
    free_gib = usage.free / GIB
    detail = f"{free_gib:.1f} GiB free of {usage.total / GIB:.1f} GiB on {path}"
    if usage.free < min_free or usage.free < usage.total * min_ratio:
        return failed(
            "disk",
            detail,
            "free space: delete old exports, backups and releases (/opt/revisor/releases), "
            "or grow the volume; SQLite needs room to checkpoint its WAL",
        )
    return passed("disk", detail)


# --- models ---------------------------------------------------------------------------------


def check_models(settings: Settings) -> list[Check]:
    """The default model must be on disk and match its sha256; other present models too."""
    try:
        manifest = model_manifest.load_manifest(settings.data_dir)
    except ConfigError as exc:
        return [failed("models", str(exc), f"fix {settings.data_dir / 'models.toml'}")]
    out = []
    default = settings.model.default_model
    for spec in manifest.models.values():
        name = f"model:{spec.id}"
        try:
            path = model_manifest.verify(spec)
            out.append(passed(name, f"{path} sha256 ok"))
        except model_manifest.ModelIntegrityError as exc:
            out.append(
                failed(name, str(exc), "copy the model again from the offline bundle (models/)")
            )
        except ConfigError as exc:
            if spec.id == default:
                get = f"revisor model fetch-pack {spec.pack}" if spec.pack else "rerun install.sh"
                fix = f"{get}, or set [model] default_model to a model that is present"
                out.append(failed(name, str(exc), fix))
            else:
                out.append(skipped(name, f"not present ({exc}); not the default model"))
    if default not in manifest.models:
        out.append(
            failed(
                "model:default",
                f"[model] default_model {default!r} is not in the manifest",
                "set [model] default_model to an id shown by `revisor model list`",
            )
        )
    return out


def check_model_endpoint(health: dict[str, Any], embedded: bool) -> Check:
    """Turn `outbound.model_health()` into a check (the probe itself is there)."""
    if health.get("ok"):
        return passed("model_endpoint", f"{health.get('endpoint', '?')}: /v1/models answers")
    fix = (
        "start the model sidecar: `systemctl start revisor-sidecar` (or `revisor inference` "
        "in a terminal); its log is <data dir>/logs/sidecar.log"
        if embedded
        else "check the endpoint's URL, API key and that it is up: `revisor model list`"
    )
    return failed("model_endpoint", str(health.get("detail", "no answer")), fix)


# --- Git servers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What one Git server said: a check for access, plus its clock (from the Date header)."""

    check: Check
    server_time: float | None = None


def check_forge(target: ForgeTarget, egress: Egress, *, name: str, timeout: float = 5.0) -> Probe:
    """The token's access to the project, asked through the forge seam (`forges.check_access`)."""
    try:
        access = forges.check_access(target, egress, timeout=timeout)
    except EgressDenied as exc:
        return Probe(failed(name, str(exc), "check `revisor repo list` and [egress] allow"))
    except RevisorError as exc:
        return Probe(
            failed(
                name,
                f"{target.server} unreachable: {exc}",
                "check DNS, routes and the firewall (appliance/nftables.conf allows only the "
                "configured hosts); for an internal CA pass --ca-file to `revisor repo add`",
            )
        )
    return Probe(Check(name, access.ok, access.detail, access.fix), access.server_time)


def check_clock(server_times: Iterable[tuple[str, float]], now: float | None = None) -> Check:
    """Compare our clock with the Git servers' Date headers."""
    seen = list(server_times)
    if not seen:
        return skipped("clock", "no Git server answered with a Date header")
    local = time.time() if now is None else now
    server, worst = max(((s, t - local) for s, t in seen), key=lambda st: abs(st[1]))
    if abs(worst) > CLOCK_SKEW_LIMIT:
        return failed(
            "clock",
            f"this host's clock is {-worst:+.0f} s off {server}",
            "enable time sync: `timedatectl set-ntp true` with an internal NTP server "
            "(systemd-timesyncd or chrony); signed webhooks and audit timestamps need it",
        )
    return passed("clock", f"within {abs(worst):.0f} s of {len(seen)} Git server(s)")


# --- LDAP, egress ----------------------------------------------------------------------------


def check_ldap(settings: LdapSettings, egress: Egress) -> Check:
    """Bind with the service account on the first server that answers."""
    if not settings.enabled:
        return skipped("ldap", "LDAP sign-in is disabled")
    import ldap3
    from ldap3.core import exceptions as lexc

    from revisor.directory import check_settings, make_tls

    fix_cfg = "fix the [ldap] section of revisor.toml (see docs/install.md)"
    try:
        check_settings(settings)
        password = (
            Path(settings.bind_password_file).read_text(encoding="utf-8").strip()
            if settings.bind_password_file
            else ""
        )
    except (ConfigError, OSError) as exc:
        return failed("ldap", str(exc), fix_cfg)
    if not password:
        return failed("ldap", "no bind password", "set [ldap] bind_password_file")
    problems = []
    for url in settings.servers:
        try:
            egress.check(url, "ldap")
            parts = urlsplit(url)
            use_ssl = parts.scheme == "ldaps"
            server = ldap3.Server(
                parts.hostname or "",
                port=parts.port or (636 if use_ssl else 389),
                use_ssl=use_ssl,
                tls=make_tls(settings.ca_file),
                get_info=ldap3.NONE,
                connect_timeout=settings.connect_timeout_seconds,
            )
            conn = ldap3.Connection(
                server, user=settings.bind_dn, password=password, read_only=True
            )
            conn.open()
            if not use_ssl and not conn.start_tls():
                problems.append(f"{url}: StartTLS refused")
                continue
            if not conn.bind():
                desc = (conn.result or {}).get("description", "refused")
                conn.unbind()
                return failed(
                    "ldap",
                    f"{url} refused the service account {settings.bind_dn!r} ({desc})",
                    "check [ldap] bind_dn and the password in bind_password_file",
                )
            conn.unbind()
            return passed("ldap", f"bound to {url} as {settings.bind_dn}")
        except (lexc.LDAPException, RevisorError, OSError) as exc:
            problems.append(f"{url}: {type(exc).__name__}: {exc}")
    return failed(
        "ldap",
        "; ".join(problems),
        "check the servers' names, ports and TLS (ca_file), and that the firewall allows them",
    )


def check_egress(
    settings: Settings, repo_servers: Sequence[str], model_urls: Sequence[str]
) -> Check:
    """The allowlist builds from the configuration, and nothing secret goes out in clear."""
    try:
        egress = allowlist_from(settings, repo_servers, model_urls)
    except ConfigError as exc:
        return failed("egress", str(exc), "fix the URL in revisor.toml or re-register it")
    clear = sorted(
        {
            u
            for u in (*repo_servers, *model_urls, *(e.url for e in settings.model.endpoints))
            if urlsplit(u).scheme == "http" and not _loopback(urlsplit(u).hostname or "")
        }
    )
    if clear:
        return failed(
            "egress",
            f"tokens would cross the network in clear to: {', '.join(clear)}",
            "serve these over HTTPS (with --ca-file for an internal CA) and register them again",
        )
    hosts = ", ".join(sorted(f"{h}:{p}" for h, p in egress.allowed))
    return passed("egress", f"{len(egress.allowed)} allowed destination(s): {hosts}")


def _loopback(host: str) -> bool:
    from revisor.inference.sidecar import is_loopback

    return is_loopback(host)


def guarded(name: str, fn: Callable[[], list[Check]]) -> list[Check]:
    """Run one check function; an unexpected exception is a failed check, not a crash."""
    try:
        return fn()
    except Exception as exc:
        return [failed(name, f"{type(exc).__name__}: {exc}", "report this as a bug")]
