"""Witnesses: signed checkpoints an auditor keeps off the box, to catch a shortened history.

A hash chain and its checkpoints live in `audit.db`; someone who can write that file can delete
the newest records *and* the checkpoints that cover them, and the export made afterwards is
consistent again. A witness is a copy of one checkpoint (seq, hash, time, key, signature) taken
earlier (`revisor audit checkpoint --out FILE`, or a checkpoint line from syslog): a later export
must contain that seq with that hash, or the history was cut short or rewritten.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from revisor.audit.checkpoint import Checkpoint, verify_checkpoint
from revisor.audit.keys import fingerprint, key_id

WITNESS_TYPE = "revisor.audit.witness.v1"
SYSLOG_PREFIX = "revisor-audit: "


def witness(cp: Checkpoint, key_fingerprint: str) -> dict[str, Any]:
    """The witness of a checkpoint: the checkpoint plus the signing key's full fingerprint and
    the time in ISO 8601 for people (`ts` is the signed one)."""
    time = datetime.fromtimestamp(cp["ts"], UTC).isoformat(timespec="seconds")
    return {"type": WITNESS_TYPE, **cp, "time": time, "fingerprint": key_fingerprint}


def witness_line(cp: Checkpoint, key_fingerprint: str) -> str:
    return json.dumps(witness(cp, key_fingerprint), sort_keys=True, separators=(",", ":"))


def read_witness(path: Path) -> dict[str, Any]:
    """Parse a witness file: the JSON object, or a syslog line that ends with it."""
    try:
        text = path.read_text(encoding="utf-8").strip().strip("\x00")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read witness {path}: {exc}") from None
    if SYSLOG_PREFIX in text and not text.startswith("{"):
        text = text.split(SYSLOG_PREFIX, 1)[1].strip().strip("\x00")
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError(f"witness {path} is not JSON") from None
    if not isinstance(data, dict) or data.get("type") != WITNESS_TYPE:
        raise ValueError(f"{path} is not a Revisor audit witness ({WITNESS_TYPE})")
    if not isinstance(data.get("seq"), int) or not isinstance(data.get("hash"), str):
        raise ValueError(f"witness {path} lacks seq/hash")
    return data


def check_witness(
    w: dict[str, Any],
    key: Ed25519PublicKey | None,
    hashes: dict[int, str],
    first_seq: int,
    last_seq: int,
) -> list[str]:
    """Problems with this export against the witness (empty: the export contains it)."""
    seq, digest = w["seq"], w["hash"]
    if key is None:
        return ["witness: no public key to check its signature with"]
    fp = fingerprint(key)
    if not hmac.compare_digest(str(w.get("fingerprint", "")), fp) or w.get("key_id") != key_id(key):
        return [f"witness: signed by key {w.get('fingerprint')}, not by this export's key {fp}"]
    if not verify_checkpoint(key, w):
        return [f"witness: its signature does not verify (forged or edited witness at seq {seq})"]
    if seq > last_seq:
        return [
            f"witness: the log had reached seq {seq} (hash {digest[:16]}…) but this export ends at "
            f"seq {last_seq}: records {last_seq + 1}..{seq} are missing (history truncated)"
        ]
    if seq < first_seq:
        return [
            f"witness: seq {seq} is before this export's first record (seq {first_seq}); "
            "export an earlier range to check it"
        ]
    found = hashes.get(seq)
    if found is None:
        return [f"witness: record {seq} could not be verified in this export's chain"]
    if not hmac.compare_digest(found, digest):
        return [
            f"witness: record {seq} has hash {found[:16]}…, the witness saw {digest[:16]}… "
            "(history rewritten)"
        ]
    return []
