"""Signed checkpoints: every N records (and on export) the appliance signs (seq, hash, time).

The hash chain alone shows that records were not edited *relative to each other*; someone with
write access to `audit.db` could still rewrite a record and recompute every later hash. A
checkpoint pins the hash at a sequence number with a signature from a key kept outside the
database, so such a rewrite no longer matches the signed checkpoint.
"""

from __future__ import annotations

import base64
import json
from typing import Any, TypedDict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from revisor.audit.keys import Signer

CHECKPOINT_TYPE = "revisor.audit.checkpoint.v1"

CHECKPOINTS_DDL = """CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    ts REAL NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
)"""


class Checkpoint(TypedDict):
    seq: int
    hash: str
    ts: float
    key_id: str
    signature: str  # base64 Ed25519 signature over `checkpoint_message(...)`


def checkpoint_message(seq: int, record_hash: str, ts: float, key_id: str) -> bytes:
    """The exact bytes that are signed. Typed, so a signature cannot be replayed elsewhere."""
    body = {"type": CHECKPOINT_TYPE, "seq": seq, "hash": record_hash, "ts": ts, "key_id": key_id}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def make_checkpoint(signer: Signer, seq: int, record_hash: str, ts: float) -> Checkpoint:
    ts = round(ts, 6)
    signature = signer.sign(checkpoint_message(seq, record_hash, ts, signer.key_id))
    return Checkpoint(
        seq=seq,
        hash=record_hash,
        ts=ts,
        key_id=signer.key_id,
        signature=base64.b64encode(signature).decode(),
    )


def verify_checkpoint(public_key: Ed25519PublicKey, cp: dict[str, Any]) -> bool:
    """True when the checkpoint's signature is valid for this public key."""
    try:
        signature = base64.b64decode(cp["signature"], validate=True)
        message = checkpoint_message(int(cp["seq"]), str(cp["hash"]), cp["ts"], str(cp["key_id"]))
        public_key.verify(signature, message)
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True
