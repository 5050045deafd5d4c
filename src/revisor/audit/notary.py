"""The client side of `revisor signer`: one JSON line to its Unix socket, one JSON line back.

The web server and the worker hold no signing key when `[audit] signer_socket` is set: they ask
the signer to checkpoint the head *it* reads from `audit.db`, and to sign an export bundle it
rebuilds from `audit.db` itself. Nothing else can be signed (see `signer.py`).

Requests (`op`): `public_key`; `checkpoint`; `sign_export` with `first_seq`, `last_seq`,
`manifest` (the manifest.json text), `formats`, `host` and `sums` (the SHA256SUMS text).
Answers: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
"""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from revisor.audit.checkpoint import Checkpoint, verify_checkpoint
from revisor.audit.keys import load_public_key
from revisor.errors import RevisorError

MAX_LINE = 1 << 20
TIMEOUT = 30.0


class SignerError(RevisorError):
    """The signer refused, or could not be reached."""


def read_line(sock: socket.socket) -> bytes:
    """One newline-terminated line (at most MAX_LINE bytes), without the newline."""
    buf = bytearray()
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > MAX_LINE:
            raise SignerError("line too long")
    line, sep, _ = bytes(buf).partition(b"\n")
    if not sep:
        raise SignerError("connection closed before a complete line")
    return line


class RemoteSigner:
    """Talks to `revisor signer` over its Unix socket (a fresh connection per request)."""

    def __init__(self, path: Path, *, timeout: float = TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout
        self._public: Ed25519PublicKey | None = None

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(str(self.path))
                sock.sendall(json.dumps(request).encode() + b"\n")
                answer = json.loads(read_line(sock))
        except (OSError, ValueError) as exc:
            raise SignerError(f"audit signer at {self.path}: {exc}") from None
        if not isinstance(answer, dict):
            raise SignerError(f"audit signer at {self.path}: not a JSON object")
        if not answer.get("ok"):
            raise SignerError(f"audit signer refused: {answer.get('error', 'no reason given')}")
        return answer

    def public_key(self) -> Ed25519PublicKey:
        if self._public is None:
            pem = self.call({"op": "public_key"}).get("public_key", "")
            try:
                self._public = load_public_key(str(pem).encode())
            except ValueError as exc:
                raise SignerError(f"audit signer sent a bad public key: {exc}") from None
        return self._public

    def checkpoint(self) -> Checkpoint | None:
        """Ask for a checkpoint of the head the signer reads; None when the log is empty."""
        cp = self.call({"op": "checkpoint"}).get("checkpoint")
        if cp is None:
            return None
        if not isinstance(cp, dict) or not verify_checkpoint(self.public_key(), cp):
            raise SignerError("audit signer sent a checkpoint that does not verify")
        return Checkpoint(
            seq=int(cp["seq"]),
            hash=str(cp["hash"]),
            ts=cp["ts"],
            key_id=str(cp["key_id"]),
            signature=str(cp["signature"]),
        )

    def sign_export(
        self,
        *,
        first_seq: int,
        last_seq: int,
        manifest: str,
        formats: list[str],
        host: str,
        sums: str,
    ) -> bytes:
        answer = self.call(
            {
                "op": "sign_export",
                "first_seq": first_seq,
                "last_seq": last_seq,
                "manifest": manifest,
                "formats": formats,
                "host": host,
                "sums": sums,
            }
        )
        try:
            signature = base64.b64decode(str(answer.get("signature", "")), validate=True)
            self.public_key().verify(signature, sums.encode())
        except Exception:
            raise SignerError("audit signer's export signature does not verify") from None
        return signature
