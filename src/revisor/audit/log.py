"""The append-only, hash-chained audit log (its own SQLite file, `audit.db`).

Each record stores the sha256 of its canonical JSON, which includes the previous record's hash,
so editing, deleting or reordering a record breaks the chain from that point on. Every
`checkpoint_every` records a checkpoint (seq, hash, time) signed with the Ed25519 key kept outside
the database is written in the same transaction (see `checkpoint.py`).

Fail closed: if a record (or its checkpoint) cannot be written, `record()` raises
`AuditWriteError`, nothing is committed, and the caller must refuse the action.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from revisor import metrics
from revisor.audit.checkpoint import CHECKPOINTS_DDL, Checkpoint, make_checkpoint
from revisor.audit.events import AuditRecord, Event, Outcome
from revisor.audit.keys import SIGNING_KEY_NAME, Signer
from revisor.errors import AuditWriteError
from revisor.store.db import connect, now

if TYPE_CHECKING:
    from revisor.config import Settings

GENESIS = "0" * 64


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


class AuditLog:
    """Append-only audit log. Without a `signer` it keeps the hash chain but signs nothing."""

    def __init__(
        self, path: Path | str, *, signer: Signer | None = None, checkpoint_every: int = 0
    ) -> None:
        if checkpoint_every < 0:
            raise ValueError("checkpoint_every must be >= 0")
        self.db: sqlite_utils.Database = connect(path)
        self._lock = threading.Lock()
        self.signer = signer
        self.checkpoint_every = checkpoint_every if signer is not None else 0
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
        self.db.execute(CHECKPOINTS_DDL)

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditLog:
        """The appliance's audit log: `audit.db`, signed checkpoints with the key from `keys/`.

        Raises ConfigError when the signing key is missing (`revisor init` creates it): an
        appliance that cannot sign checkpoints should not start recording unsigned ones.
        """
        signer = Signer.load(settings.keys_dir / SIGNING_KEY_NAME)
        return cls(
            settings.audit_path, signer=signer, checkpoint_every=settings.audit.checkpoint_every
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
        return self.append_many([rec])[0]

    def append_many(self, recs: Sequence[AuditRecord]) -> list[int]:
        """Append records in one transaction (one fsync): all of them are written, or none."""
        seqs: list[int] = []
        try:
            with self._lock, self.db.conn:
                self.db.conn.execute("BEGIN IMMEDIATE")
                last = self.db.conn.execute(
                    "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, prev = last if last else (0, GENESIS)
                for rec in recs:
                    seq += 1
                    prev = self._insert(seq, prev, rec)
                    seqs.append(seq)
        except Exception as exc:
            for rec in recs:
                metrics.AUDIT_WRITE_FAILURES.labels(rec.event.value).inc()
            events = ", ".join(sorted({r.event.value for r in recs}))
            raise AuditWriteError(f"audit record {events} could not be written: {exc}") from exc
        return seqs

    def _insert(self, seq: int, prev: str, rec: AuditRecord) -> str:
        """Insert one record after `prev` (inside the caller's transaction); return its hash."""
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
        if self.checkpoint_every and seq % self.checkpoint_every == 0:
            self._insert_checkpoint(seq, digest)
        return digest

    def _insert_checkpoint(self, seq: int, digest: str) -> Checkpoint:
        if self.signer is None:
            raise AuditWriteError("no audit signing key: cannot write a checkpoint")
        cp = make_checkpoint(self.signer, seq, digest, now())
        self.db.conn.execute(
            "INSERT OR IGNORE INTO audit_checkpoints (seq, hash, ts, key_id, signature)"
            " VALUES (?, ?, ?, ?, ?)",
            [cp["seq"], cp["hash"], cp["ts"], cp["key_id"], cp["signature"]],
        )
        return cp

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest record; (0, GENESIS) for an empty log."""
        row = self.db.conn.execute(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def checkpoint(self) -> int:
        """Sign a checkpoint at the current head now (export does this); return its seq.

        Returns 0 (and signs nothing) for an empty log. Raises AuditWriteError if it cannot.
        """
        if self.signer is None:
            raise AuditWriteError("no audit signing key: cannot write a checkpoint")
        try:
            with self._lock, self.db.conn:
                self.db.conn.execute("BEGIN IMMEDIATE")
                seq, digest = self.head()
                if seq:
                    self._insert_checkpoint(seq, digest)
        except Exception as exc:
            metrics.AUDIT_WRITE_FAILURES.labels("checkpoint").inc()
            raise AuditWriteError(f"audit checkpoint could not be written: {exc}") from exc
        return seq

    def checkpoints(self, first_seq: int = 1, last_seq: int | None = None) -> list[Checkpoint]:
        sql, params = "SELECT * FROM audit_checkpoints WHERE seq >= ?", [first_seq]
        if last_seq is not None:
            sql += " AND seq <= ?"
            params.append(last_seq)
        return [
            Checkpoint(
                seq=r["seq"],
                hash=r["hash"],
                ts=r["ts"],
                key_id=r["key_id"],
                signature=r["signature"],
            )
            for r in self.db.query(sql + " ORDER BY seq", params)
        ]

    def records(
        self, since: float | None = None, until: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Records in chain order, with `details` decoded; `since` inclusive, `until` exclusive."""
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
