"""Opening a SQLite file with Revisor's durability settings, and the clock rows are stamped with.

Neutral ground: the store (`store/db.py`) and the audit log (`audit/log.py`) both open their
files here, so neither depends on the other. Every connection uses WAL with
`synchronous=FULL`, so a row committed before a webhook is answered survives power loss.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import sqlite_utils

BUSY_TIMEOUT_MS = 10_000


def connect(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) a database file with Revisor's durability settings."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn)


def now() -> float:
    return time.time()
