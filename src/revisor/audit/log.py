"""The append-only, hash-chained audit log (its own SQLite file, `audit.db`).

Each record stores the sha256 of its canonical JSON, which includes the previous record's hash,
so editing, deleting or reordering a record breaks the chain from that point on. Every
`checkpoint_every` records a checkpoint (seq, hash, time) signed with the Ed25519 key kept outside
the database is written in the same transaction (see `checkpoint.py`).

Fail closed: if a record (or its checkpoint) cannot be written, `record()` raises
`AuditWriteError`, nothing is committed, and the caller must refuse the action.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from revisor import metrics
from revisor.audit.checkpoint import CHECKPOINTS_DDL, Checkpoint, make_checkpoint
from revisor.audit.events import AuditRecord, Event, Outcome
from revisor.audit.keys import SIGNING_KEY_NAME, Signer, fingerprint
from revisor.audit.notary import RemoteSigner
from revisor.audit.ship import Shipper, ship, shipper_for
from revisor.errors import AuditWriteError
from revisor.sqlitefile import connect, now

if TYPE_CHECKING:
    from revisor.config import Settings

GENESIS = "0" * 64
_log = logging.getLogger("revisor.audit")


def share_with_signer(path: Path) -> None:
    """audit.db (and its -wal/-shm) group-readable, so `revisor signer` (its own user, in the
    revisor group) can read what it signs; the services' umask would make them 0600."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(OSError):
            os.chmod(p, 0o640)


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


class AuditLog:
    """Append-only audit log. Without a `signer` (or `remote`) it keeps the chain, signs nothing.

    `signer`: sign checkpoints in this process, inside the transaction of the record they cover.
    `remote`: ask `revisor signer` (which holds the key) to sign the committed head instead.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        signer: Signer | None = None,
        checkpoint_every: int = 0,
        checkpoint_seconds: float = 0.0,
        remote: RemoteSigner | None = None,
        shipper: Shipper | None = None,
        clock: Callable[[], float] = now,
    ) -> None:
        if checkpoint_every < 0 or checkpoint_seconds < 0:
            raise ValueError("checkpoint_every and checkpoint_seconds must be >= 0")
        self.db: sqlite_utils.Database = connect(path)
        self._lock = threading.Lock()
        self.signer = signer
        self.remote = remote
        signs = signer is not None or remote is not None
        self.checkpoint_every = checkpoint_every if signs else 0
        self.checkpoint_seconds = checkpoint_seconds if signs else 0.0
        self.shipper = shipper
        self.clock = clock
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
        """The appliance's audit log: `audit.db`, signed checkpoints shipped to syslog.

        With `[audit] signer_socket` the key stays in `revisor signer`; otherwise it is loaded
        from `keys/` and raises ConfigError when missing (`revisor init` creates it): an
        appliance that cannot sign checkpoints should not start recording unsigned ones.
        """
        a = settings.audit
        signer = remote = None
        if a.signer_socket:
            remote = RemoteSigner(Path(a.signer_socket))
        else:
            signer = Signer.load(settings.keys_dir / SIGNING_KEY_NAME)
        log = cls(
            settings.audit_path,
            signer=signer,
            remote=remote,
            checkpoint_every=a.checkpoint_every,
            checkpoint_seconds=a.checkpoint_minutes * 60,
        )
        share_with_signer(settings.audit_path)
        if signer is not None:  # the remote signer ships its own checkpoints
            log.shipper = shipper_for(a.syslog, fingerprint(signer.public))
        return log

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
        signed: list[Checkpoint] = []
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
                    if self.signer is not None and self._due(seq):
                        signed.append(self._insert_checkpoint(seq, prev))
        except Exception as exc:
            for rec in recs:
                metrics.AUDIT_WRITE_FAILURES.labels(rec.event.value).inc()
            events = ", ".join(sorted({r.event.value for r in recs}))
            raise AuditWriteError(f"audit record {events} could not be written: {exc}") from exc
        for cp in signed:
            ship(self.shipper, cp)
        if self.remote is not None and seqs:
            with self._lock:
                due = self._due(seqs[-1])
            if due:
                self._remote_checkpoint_logged()
        return seqs

    def _due(self, seq: int) -> bool:
        """A checkpoint is due at `seq`: N records, or M seconds since the first unsigned one."""
        if not (self.checkpoint_every or self.checkpoint_seconds):
            return False
        row = self.db.conn.execute(
            "SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        signed = row[0] if row else 0
        if seq <= signed:
            return False
        if self.checkpoint_every and seq - signed >= self.checkpoint_every:
            return True
        if self.checkpoint_seconds:
            oldest = self.db.conn.execute(
                "SELECT ts FROM audit WHERE seq = ?", [signed + 1]
            ).fetchone()
            return oldest is not None and self.clock() - oldest[0] >= self.checkpoint_seconds
        return False

    def _remote_checkpoint_logged(self) -> None:
        """After a commit: the records are durable, a failed signature leaves an unsigned tail
        (reported by `audit verify`) that the next record or timer tick tries again."""
        try:
            self.checkpoint_now()
        except AuditWriteError as exc:
            _log.error("%s", exc)

    def _insert(self, seq: int, prev: str, rec: AuditRecord) -> str:
        """Insert one record after `prev` (inside the caller's transaction); return its hash."""
        body = {
            "seq": seq,
            "ts": round(self.clock(), 6),
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
        return digest

    def _insert_checkpoint(self, seq: int, digest: str) -> Checkpoint:
        if self.signer is None:
            raise AuditWriteError("no audit signing key: cannot write a checkpoint")
        cp = make_checkpoint(self.signer, seq, digest, self.clock())
        self._store_checkpoint(cp)
        return cp

    def _store_checkpoint(self, cp: Checkpoint) -> None:
        self.db.conn.execute(
            "INSERT OR IGNORE INTO audit_checkpoints (seq, hash, ts, key_id, signature)"
            " VALUES (?, ?, ?, ?, ?)",
            [cp["seq"], cp["hash"], cp["ts"], cp["key_id"], cp["signature"]],
        )

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
        cp = self.checkpoint_now()
        return cp["seq"] if cp else 0

    def checkpoint_now(self) -> Checkpoint | None:
        """Sign the current head now, store and ship the checkpoint; None for an empty log."""
        if self.remote is not None:
            return self._checkpoint_remote(self.remote)
        if self.signer is None:
            raise AuditWriteError("no audit signing key: cannot write a checkpoint")
        cp = None
        try:
            with self._lock, self.db.conn:
                self.db.conn.execute("BEGIN IMMEDIATE")
                seq, digest = self.head()
                if seq:
                    cp = self._insert_checkpoint(seq, digest)
        except Exception as exc:
            metrics.AUDIT_WRITE_FAILURES.labels("checkpoint").inc()
            raise AuditWriteError(f"audit checkpoint could not be written: {exc}") from exc
        if cp is not None:
            ship(self.shipper, cp)
        return cp

    def _checkpoint_remote(self, remote: RemoteSigner) -> Checkpoint | None:
        try:
            cp = remote.checkpoint()
            if cp is not None:
                row = self.db.conn.execute(
                    "SELECT hash FROM audit WHERE seq = ?", [cp["seq"]]
                ).fetchone()
                if row is None or row[0] != cp["hash"]:
                    raise AuditWriteError(f"the signer signed seq {cp['seq']}, not in audit.db")
                with self._lock, self.db.conn:
                    self._store_checkpoint(cp)
        except Exception as exc:
            metrics.AUDIT_WRITE_FAILURES.labels("checkpoint").inc()
            raise AuditWriteError(f"audit checkpoint could not be signed: {exc}") from exc
        return cp

    def checkpoint_if_due(self) -> Checkpoint | None:
        """The timer's tick: sign the head if records have waited `checkpoint_seconds`."""
        with self._lock:
            seq, _ = self.head()
            due = bool(seq) and self._due(seq)
        return self.checkpoint_now() if due else None

    def public_key(self) -> Ed25519PublicKey:
        if self.remote is not None:
            return self.remote.public_key()
        if self.signer is None:
            raise AuditWriteError("no audit signing key")
        return self.signer.public

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
