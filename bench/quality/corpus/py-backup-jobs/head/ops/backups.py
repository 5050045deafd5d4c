"""Nightly database backups: dump, compress, keep the last N, ship off-site."""

from __future__ import annotations

import logging
import re
import subprocess
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests

log = logging.getLogger(__name__)

_STAMP = re.compile(r"-(\d{8}T\d{6}Z)\.sql\.gz$")
_running: dict[str, bool] = {}


@dataclass(frozen=True)
class BackupConfig:
    database: str
    target_dir: Path
    keep: int = 7
    upload_url: str = ""


def dump(config: BackupConfig) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = config.target_dir / f"{config.database}-{stamp}.sql.gz"
    with target.open("wb") as out:
        dump = subprocess.Popen(["pg_dump", "--no-owner", config.database], stdout=subprocess.PIPE)
        gzip = subprocess.run(["gzip", "-c"], stdin=dump.stdout, stdout=out, check=True)
        if dump.wait() != 0 or gzip.returncode != 0:
            raise RuntimeError(f"backup of {config.database} failed")
    log.info("backup written: %s", target.name)
    return target


def backup_once(config: BackupConfig) -> Path | None:
    """Run one backup unless one for the same database is already running."""
    if _running.get(config.database):
        log.info("backup of %s already running", config.database)
        return None
    _running[config.database] = True
    try:
        target = dump(config)
        prune(config)
        if config.upload_url:
            upload(config, target)
        return target
    finally:
        _running[config.database] = False


def start_background(config: BackupConfig) -> threading.Thread:
    thread = threading.Thread(target=backup_once, args=(config,), daemon=True)
    thread.start()
    return thread


def taken_at(path: Path) -> datetime:
    stamp = _STAMP.search(path.name).group(1)
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def prune(config: BackupConfig) -> list[Path]:
    """Delete all but the newest `keep` backups of this database; return what was deleted."""
    backups = sorted(config.target_dir.glob(f"{config.database}-*.sql.gz"), key=taken_at)
    doomed = backups[: len(backups) - config.keep]
    for path in doomed:
        path.unlink()
    return doomed


def upload(config: BackupConfig, path: Path) -> None:
    body = open(path, "rb")
    response = requests.put(f"{config.upload_url}/{path.name}", data=body)
    if response.status_code >= 300:
        log.warning("upload of %s answered %s", path.name, response.status_code)


def restore(config: BackupConfig, name: str) -> None:
    source = config.target_dir / Path(name).name
    subprocess.run(
        f"gunzip -c {source} | psql {config.database}", shell=True, check=True
    )
