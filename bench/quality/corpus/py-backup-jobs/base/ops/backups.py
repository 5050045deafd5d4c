"""Nightly database backups: dump, compress, keep the last N."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupConfig:
    database: str
    target_dir: Path
    keep: int = 7


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
