"""The append-only, hash-chained audit log (its own SQLite file, `audit.db`).

Each record stores the sha256 of its canonical JSON, which includes the previous record's hash,
so editing, deleting or reordering a record breaks the chain from that point on. If a record
cannot be written, `record()` raises `AuditWriteError` and the caller must refuse the action.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from revisor.audit.events import AuditRecord, Event, Outcome
from revisor.errors import AuditWriteError
from revisor.store.db import connect, now

GENESIS = "0" * 64


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


class AuditLog:
    def __init__(self, path: Path | str) -> None:
        self.db: sqlite_utils.Database = connect(path)
        self._lock = threading.Lock()
        self.db.execute(
            """CREATE TABLE IF NOT EXISTS audit (
                seq INTEGER PRIMARY KEY,
                ts REAL NOT NULL,
                event TEXT NOT NULL,
                actor TEXT NOT NULL,
                source TEXT NOT NULL,
                target TEXT NOT NULL,
                outcome TEXT NOT NULL,
                details TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            )"""
        )

    def record(
        self,
        event: Event,
        *,
        actor: str,
        target: str,
        outcome: Outcome = Outcome.SUCCESS,
        source: str = "",
        **details: Any,
    ) -> int:
        return self.append(AuditRecord(event, actor, target, outcome, source, details))

    def append(self, rec: AuditRecord) -> int:
        try:
            with self._lock, self.db.conn:
                self.db.conn.execute("BEGIN IMMEDIATE")
                last = self.db.conn.execute(
                    "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
                body = {
                    "seq": seq,
                    "ts": round(now(), 6),
                    "event": rec.event.value,
                    "actor": rec.actor,
                    "source": rec.source,
                    "target": rec.target,
                    "outcome": rec.outcome.value,
                    "details": rec.details,
                    "prev_hash": prev,
                }
                digest = record_hash(body)
                self.db.conn.execute(
                    "INSERT INTO audit (seq, ts, event, actor, source, target, outcome, details,"
                    " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        seq,
                        body["ts"],
                        body["event"],
                        rec.actor,
                        rec.source,
                        rec.target,
                        body["outcome"],
                        json.dumps(rec.details, sort_keys=True),
                        prev,
                        digest,
                    ],
                )
        except Exception as exc:
            raise AuditWriteError(f"audit record {rec.event.value} could not be written: {exc}") from exc
        return seq

    def records(self, since: float | None = None, until: float | None = None) -> Iterator[dict[str, Any]]:
        sql, params = "SELECT * FROM audit WHERE 1=1", []
        if since is not None:
            sql += " AND ts >= ?"
            params.append(since)
        if until is not None:
            sql += " AND ts < ?"
            params.append(until)
        for row in self.db.query(sql + " ORDER BY seq", params):
            row["details"] = json.loads(row["details"])
            yield row

    def close(self) -> None:
        self.db.conn.close()
