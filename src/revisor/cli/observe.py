"""`revisor status` (one screen for a terminal) and `revisor support-bundle --out FILE`.

Both are read-only. `status` answers "is it working?" without a browser: services up, queue,
jobs of the last hour, model health, the last error per repository. `support-bundle` packs what
someone else needs to diagnose a problem into one tarball that is safe to hand over: recent logs,
configuration with secrets masked, versions, migration state, `revisor doctor` output, a metrics
snapshot and a manifest with the sha256 of every file.

Why the bundle scrubs twice: logs are written never to contain secrets, but a bundle leaves the
appliance, so every text that goes in is also scrubbed of (1) every secret the appliance knows
(repository tokens and webhook secrets, model API keys, the LDAP bind password, the sidecar key)
and (2) anything that looks like a credential (the same detectors that clean diffs for the model).
Key material (`keys/`) and the databases are never included.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revisor import __version__, metrics
from revisor.cli import add_common
from revisor.config import CONFIG_NAME, Settings
from revisor.context import Context
from revisor.egress import audit_refusals
from revisor.llm.registry import select_endpoints, uses_embedded_model
from revisor.outbound import configured_egress, model_health
from revisor.store import endpoints

LOG_TAIL_BYTES = 5 * 1024 * 1024
PROBE_TIMEOUT = 2.0
MASK = "[MASKED]"
SCRUBBED = "[REDACTED]"
# Configuration keys whose *value* is a secret. `*_file` keys name a file: the path is shown.
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_?key|private|credential)", re.I)
MIN_KNOWN_SECRET = 6  # shorter "secrets" would blank out ordinary words


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="one-screen summary: services, queue, jobs, model, errors")
    add_common(p, json_flag=True)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "support-bundle", help="write a tarball for support: logs, masked config, versions, ..."
    )
    add_common(p)
    p.add_argument("--out", required=True, help="file to write (.tar.gz)")
    p.add_argument(
        "--log-mb",
        type=float,
        default=LOG_TAIL_BYTES / 1024 / 1024,
        help="keep the last N MB of each log file (default 5)",
    )
    p.set_defaults(func=cmd_support_bundle)


# --- status ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    name: str
    up: bool
    detail: str


@dataclass(frozen=True)
class Status:
    services: tuple[Service, ...]
    queue_depth: int | None
    oldest_due_seconds: float
    jobs_last_hour: Mapping[str, int]
    model: Mapping[str, Any]
    last_errors: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    @property
    def healthy(self) -> bool:
        return all(s.up for s in self.services)

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "services": [dataclasses.asdict(s) for s in self.services],
            "queue_depth": self.queue_depth,
            "oldest_due_seconds": round(self.oldest_due_seconds, 1),
            "jobs_last_hour": dict(self.jobs_last_hour),
            "model": dict(self.model),
            "last_errors": [dict(e) for e in self.last_errors],
        }


def _probe_host(host: str) -> str:
    """Where to reach a server bound to `host` from this machine."""
    if host in ("0.0.0.0", ""):  # noqa: S104 (a comparison, not a bind)
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _http_get(
    rt: Context, url: str, purpose: str, ca_file: str | None = None
) -> tuple[int | None, str]:
    """(status, short detail); status None when nothing answered. Never raises."""
    try:
        refusals = audit_refusals(rt.audit, rt.actor)
        egress = configured_egress(rt.settings, rt.db, on_refusal=refusals, extra_urls=(url,))
        with egress.client(url, purpose=purpose, timeout=PROBE_TIMEOUT, ca_file=ca_file) as client:
            response = client.get(url)
        return response.status_code, f"HTTP {response.status_code}"
    except Exception as exc:
        return None, type(exc).__name__


def probe_web(rt: Context) -> Service:
    s, web = rt.settings.server, rt.settings.web
    # Over TLS the server's own certificate is the trust anchor (a self-signed one names
    # 127.0.0.1; one from the site's CA verifies through the chain in the same file).
    base = f"{'https' if web.tls else 'http'}://{_probe_host(s.host)}:{s.port}"
    ca = str(rt.settings.data_path(web.tls_cert)) if web.tls else None
    status, detail = _http_get(rt, f"{base}/healthz", "status probe", ca)
    if status != 200:
        return Service("web", False, f"{base}/healthz: {detail}")
    ready, ready_detail = _http_get(rt, f"{base}/readyz", "status probe", ca)
    text = "ready" if ready == 200 else f"up but not ready ({ready_detail})"
    procs = len(metrics.live_pids(rt.settings.data_dir, "web"))
    return Service("web", True, f"{base}: {text}" + (f", {procs} process(es)" if procs else ""))


def probe_worker(rt: Context) -> Service:
    pids = metrics.live_pids(rt.settings.data_dir, "worker")
    if not pids:
        return Service("worker", False, "no running `revisor worker` (no live pid file)")
    return Service("worker", True, "pid " + ", ".join(map(str, pids)))


def probe_model(rt: Context) -> tuple[Service, dict[str, Any]]:
    try:
        refusals = audit_refusals(rt.audit, rt.actor)
        health: dict[str, Any] = model_health(rt.settings, rt.db, rt.keys, on_refusal=refusals)
    except Exception as exc:  # a probe reports, it never raises
        health = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}
    where = "embedded sidecar" if _embedded(rt) else f"endpoint {health.get('endpoint', '?')}"
    return Service("model", bool(health.get("ok")), f"{where}: {health.get('detail', '')}"), health


def _embedded(rt: Context) -> bool:
    try:
        return uses_embedded_model(rt.settings, endpoints.list_endpoints(rt.db))
    except Exception:
        return False


def last_errors(rt: Context) -> list[dict[str, Any]]:
    """Per repository, the newest job that recorded an error."""
    rows = rt.db.execute(
        "SELECT r.id, r.forge, r.project, j.id, j.state, j.last_error, j.updated_at"
        " FROM repos r JOIN jobs j ON j.id = ("
        "   SELECT max(id) FROM jobs WHERE repo_id = r.id AND last_error IS NOT NULL)"
        " ORDER BY r.id"
    ).fetchall()
    return [
        {
            "repo_id": r[0],
            "repo": f"{r[1]}:{r[2]}",
            "job_id": r[3],
            "state": r[4],
            "error": str(r[5])[:300],
            "at": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(r[6])),
        }
        for r in rows
    ]


def collect_status(rt: Context) -> Status:
    from revisor.store import jobs
    from revisor.worker.queue import Queue

    model_service, model = probe_model(rt)
    snapshot = metrics.read_snapshot(rt.db, Queue(rt.settings).depth)
    return Status(
        services=(probe_web(rt), probe_worker(rt), model_service),
        queue_depth=snapshot.queue_depth,
        oldest_due_seconds=snapshot.oldest_due_seconds,
        jobs_last_hour=jobs.counts_by_state(rt.db, since=time.time() - 3600),
        model=model,
        last_errors=tuple(last_errors(rt)),
    )


def render_status(status: Status, data_dir: Path) -> str:
    lines = [f"Revisor {__version__}   data dir {data_dir}", "", "services"]
    for s in status.services:
        lines.append(f"  {s.name:<7} {'up' if s.up else 'DOWN':<5} {s.detail}")
    depth = "unreadable" if status.queue_depth is None else str(status.queue_depth)
    wait = (
        f"; oldest due job waiting {status.oldest_due_seconds:.0f}s"
        if status.oldest_due_seconds
        else ""
    )
    lines += ["", f"queue   {depth} waiting{wait}"]
    counts = "  ".join(f"{k} {v}" for k, v in status.jobs_last_hour.items() if v) or "none"
    lines.append(f"jobs (last hour)   {counts}")
    lines += ["", "last error per repository"]
    if not status.last_errors:
        lines.append("  none")
    for e in status.last_errors:
        error = " ".join(str(e["error"]).split())[:100]
        lines.append(f"  {e['repo']:<32} job {e['job_id']:<6} {e['state']:<9} {e['at']}  {error}")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, rt: Context) -> int:
    status = collect_status(rt)
    if args.json:
        print(json.dumps(status.as_dict(), indent=2, sort_keys=True))
    else:
        print(render_status(status, rt.settings.data_dir))
    return 0 if status.healthy else 1


# --- support bundle ------------------------------------------------------------------------


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key)) and not key.endswith("_file")


def mask_config(value: Any, key: str = "") -> Any:
    """A copy of a configuration tree with the values of secret-named keys masked."""
    if isinstance(value, Mapping):
        return {str(k): mask_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_config(v, key) for v in value]
    if key and is_secret_key(key) and value not in (None, "", False):
        return MASK
    if isinstance(value, Path):
        return str(value)
    return value


_TOML_ASSIGN = re.compile(r"^(\s*#?\s*)([A-Za-z0-9_.\"'-]+)(\s*=\s*)(.*)$")


def mask_toml_text(text: str) -> str:
    """revisor.toml as written, comments kept, with secret-named values masked line by line
    (works even when the file does not parse)."""
    out = []
    for line in text.splitlines():
        m = _TOML_ASSIGN.match(line)
        if m and is_secret_key(m.group(2).strip("\"'").rsplit(".", 1)[-1]):
            out.append(f'{m.group(1)}{m.group(2)}{m.group(3)}"{MASK}"')
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def known_secrets(rt: Context) -> tuple[list[str], list[str]]:
    """Every secret the appliance can name, and notes on the ones it could not read."""
    found: list[str] = []
    notes: list[str] = []
    s = rt.settings
    files = [s.ldap.bind_password_file, *(e.api_key_file for e in s.model.endpoints)]
    from revisor.inference.sidecar import API_KEY_FILE

    files.append(str(s.keys_dir / API_KEY_FILE))
    for name in filter(None, files):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            found.append(Path(name).read_text(encoding="utf-8").strip())
    try:
        from revisor.store import repos

        for repo in repos.list_all(rt.db):
            sec = repos.load_secrets(rt.db, rt.keys, repo)
            found += [sec.token, sec.webhook_secret, sec.signing_secret or ""]
    except Exception as exc:
        notes.append(f"repository secrets could not be read ({type(exc).__name__})")
    if not _embedded(rt):  # external endpoints: their keys (the sidecar's was read above)
        try:
            chosen = select_endpoints(s, endpoints.with_keys(rt.db, rt.keys), sidecar="never")
            found += [e.api_key or "" for e in chosen.endpoints.values()]
        except Exception as exc:
            notes.append(f"model endpoint keys could not be read ({type(exc).__name__})")
    unique = {x for x in found if len(x) >= MIN_KNOWN_SECRET}
    return sorted(unique, key=len, reverse=True), notes


@dataclass(frozen=True)
class Scrubber:
    """Removes known secrets (and their common encodings) and credential-looking text."""

    secrets: tuple[str, ...]

    def __call__(self, text: str) -> str:
        from urllib.parse import quote

        from revisor.review.redact import redact_text

        for secret in self.secrets:
            for form in {secret, quote(secret, safe=""), secret.encode().hex()}:
                text = text.replace(form, SCRUBBED)
        redacted, _ = redact_text(text)
        return redacted


def tail_text(path: Path, max_bytes: int) -> str:
    """The last `max_bytes` of a log file, starting at a line boundary."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if size > max_bytes:
            f.seek(size - max_bytes)
            f.readline()  # drop the partial first line
        data = f.read()
    return data.decode("utf-8", errors="replace")


def versions() -> dict[str, Any]:
    packages = {
        (d.metadata["Name"] or "?").lower(): d.version
        for d in importlib.metadata.distributions()
        if d.metadata["Name"]
    }
    return {
        "revisor": __version__,
        "python": sys.version,
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "packages": dict(sorted(packages.items())),
    }


def migration_state(rt: Context) -> dict[str, Any]:
    from revisor.store.db import MIGRATIONS

    db = rt.db
    applied = (
        [
            {"name": r[0], "applied_at": r[1]}
            for r in db.execute("SELECT name, applied_at FROM _migrations ORDER BY name")
        ]
        if db["_migrations"].exists()
        else []
    )
    done = {a["name"] for a in applied}
    return {"applied": applied, "pending": [name for name, _ in MIGRATIONS if name not in done]}


def doctor_output(rt: Context) -> str:
    """`revisor doctor`, run as a subprocess when this build has it (it may hang on a dead
    network mount or LDAP server: bounded by a timeout)."""
    from revisor.cli import build_parser

    parser = build_parser()
    commands: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    if "doctor" not in commands:
        return "revisor doctor is not available in this build.\n"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "revisor", "doctor", "--data-dir", str(rt.settings.data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "revisor doctor did not finish within 120 s.\n"
    return f"$ revisor doctor   (exit {done.returncode})\n{done.stdout}\n{done.stderr}"


def metrics_snapshot(rt: Context) -> str:
    from revisor.worker.queue import Queue

    directory = metrics.metrics_dir(rt.settings.data_dir)
    registry = metrics.registry_for_scrape(
        directory if directory.is_dir() else None,
        lambda: metrics.read_snapshot(rt.db, Queue(rt.settings).depth),
        local=False,  # this CLI process counted nothing worth showing
    )
    return metrics.render(registry).decode()


def _safely(what: str, produce: Any) -> str:
    try:
        return str(produce())
    except Exception as exc:
        return f"could not collect {what}: {type(exc).__name__}: {exc}\n"


def bundle_files(rt: Context, log_tail_bytes: int) -> tuple[dict[str, str], list[str]]:
    """name -> text for every file of the bundle (before scrubbing), and notes."""
    s: Settings = rt.settings
    files: dict[str, str] = {}
    notes: list[str] = []
    if s.log_dir.is_dir():
        for path in sorted(s.log_dir.iterdir()):
            if path.is_file() and ".log" in path.name:
                files[f"logs/{path.name}"] = tail_text(path, log_tail_bytes)
    else:
        notes.append(f"no log directory at {s.log_dir}")
    cfg = s.data_dir / CONFIG_NAME
    if cfg.is_file():
        files[f"config/{CONFIG_NAME}"] = mask_toml_text(cfg.read_text(encoding="utf-8"))
    effective = mask_config(dataclasses.asdict(s))
    env = {k: (MASK if is_secret_key(k) else v) for k, v in os.environ.items()}
    env = {k: v for k, v in env.items() if k.startswith(("REVISOR_", "PROMETHEUS_"))}
    files["config/effective.json"] = json.dumps(
        {"settings": effective, "environment": env}, indent=2, sort_keys=True, default=str
    )
    files["versions.json"] = json.dumps(versions(), indent=2)
    files["migrations.json"] = _safely(
        "migration state", lambda: json.dumps(migration_state(rt), indent=2)
    )
    files["status.json"] = _safely(
        "status", lambda: json.dumps(collect_status(rt).as_dict(), indent=2, sort_keys=True)
    )
    files["doctor.txt"] = _safely("revisor doctor output", lambda: doctor_output(rt))
    files["metrics.txt"] = _safely("metrics", lambda: metrics_snapshot(rt))
    return files, notes


def write_bundle(rt: Context, out: Path, *, log_tail_bytes: int = LOG_TAIL_BYTES) -> dict[str, Any]:
    """Write the tarball; return its manifest."""
    secrets, notes = known_secrets(rt)
    scrub = Scrubber(tuple(secrets))
    files, more_notes = bundle_files(rt, log_tail_bytes)
    notes += more_notes
    entries = []
    blobs: dict[str, bytes] = {}
    for name, text in sorted(files.items()):
        data = scrub(text).encode("utf-8")
        blobs[name] = data
        entries.append(
            {"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )
    manifest = {
        "revisor": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data_dir": str(rt.settings.data_dir),
        "log_tail_bytes": log_tail_bytes,
        "known_secrets_scrubbed": len(secrets),
        "notes": notes,
        "files": entries,
    }
    blobs["MANIFEST.json"] = json.dumps(manifest, indent=2).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    prefix = f"revisor-support-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in blobs.items():
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
    return manifest


def cmd_support_bundle(args: argparse.Namespace, rt: Context) -> int:
    out = Path(args.out)
    manifest = write_bundle(rt, out, log_tail_bytes=int(args.log_mb * 1024 * 1024))
    print(f"wrote {out} ({len(manifest['files'])} files; manifest inside: MANIFEST.json)")
    for note in manifest["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return 0
