"""`revisor signer`: the only process that holds the audit signing key.

It runs as its own user (`revisor-signer`), reads `audit.db` read-only, and answers one JSON
line per connection on a Unix socket (protocol in `notary.py`). It never signs bytes a client
sends: for a checkpoint it reads the head itself, and first checks that the chain *continues*
from the last checkpoint it signed (that record still has the hash it signed, and every record
after it links to it). A compromised web server that rewrote or cut the history therefore
cannot get the new history signed. For an export it rebuilds the bundle from `audit.db` and
signs its own SHA256SUMS only when it equals the client's.

Its state (the last seq and hash it signed) lives next to its key, out of the services' reach.
Each checkpoint it signs is shipped to syslog (`[audit] syslog`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import signal
import socket
import socketserver
import sqlite3
import stat
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from revisor.audit.checkpoint import Checkpoint, make_checkpoint, verify_checkpoint
from revisor.audit.export import (
    EXPORT_TYPE,
    bundle_files,
    check_formats,
    manifest_facts,
    read_rows,
    sums_text,
)
from revisor.audit.keys import (
    SIGNING_KEY_NAME,
    Signer,
    ensure_signing_key,
    fingerprint,
    public_key_pem,
)
from revisor.audit.log import GENESIS, record_hash
from revisor.audit.notary import SignerError, read_line
from revisor.audit.ship import Shipper, ship, shipper_for
from revisor.secrets import write_private_file
from revisor.sqlitefile import now

if TYPE_CHECKING:
    from revisor.config import Settings

log = logging.getLogger("revisor.signer")

STATE_NAME = "signer_state.json"
SOCKET = "run/signer.sock"  # under the data dir, when [audit] signer_socket is empty
BATCH = 1000


class Refused(Exception):
    """A request the signer will not sign; the message goes back to the client."""


@dataclass(frozen=True)
class Signed:
    seq: int
    hash: str


def read_state(path: Path) -> Signed:
    if not path.exists():
        return Signed(0, GENESIS)
    data = json.loads(path.read_text(encoding="utf-8"))
    return Signed(int(data["seq"]), str(data["hash"]))


def write_state(path: Path, state: Signed) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    write_private_file(tmp, json.dumps({"seq": state.seq, "hash": state.hash}).encode())
    os.replace(tmp, path)


def open_read_only(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise Refused(f"{path} does not exist")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def verify_chain(conn: sqlite3.Connection, start: Signed, to_seq: int) -> str:
    """Check records start.seq+1..to_seq link to `start` and each other; return the last hash."""
    if start.seq:
        row = conn.execute("SELECT hash FROM audit WHERE seq = ?", [start.seq]).fetchone()
        if row is None:
            raise Refused(f"record {start.seq}, which I signed, is gone (history truncated)")
        if row["hash"] != start.hash:
            raise Refused(f"record {start.seq} is not the one I signed (history rewritten)")
    prev, expected = start.hash, start.seq + 1
    while expected <= to_seq:
        rows = conn.execute(
            "SELECT * FROM audit WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?",
            [expected, to_seq, BATCH],
        ).fetchall()
        if not rows:
            raise Refused(f"record {expected} is missing")
        for r in rows:
            body = {k: r[k] for k in r.keys() if k != "hash"}  # noqa: SIM118 (sqlite3.Row)
            body["details"] = json.loads(body["details"])
            if r["seq"] != expected:
                raise Refused(f"record {expected} is missing")
            if r["prev_hash"] != prev:
                raise Refused(f"record {expected} does not link to record {expected - 1}")
            if record_hash(body) != r["hash"]:
                raise Refused(f"record {expected} does not match its hash")
            prev, expected = r["hash"], expected + 1
    return prev


class Notary:
    """What the signer does, without the socket."""

    def __init__(
        self, signer: Signer, audit_path: Path, state_dir: Path, shipper: Shipper | None = None
    ) -> None:
        self.signer = signer
        self.audit_path = audit_path
        self.state_path = state_dir / STATE_NAME
        self.shipper = shipper

    def handle(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise Refused("a request is a JSON object")
        op = request.get("op")
        if op == "public_key":
            return {"public_key": public_key_pem(self.signer.public).decode()}
        if op == "checkpoint":
            cp = self.checkpoint()
            return {"checkpoint": dict(cp) if cp else None}
        if op == "sign_export":
            return {"signature": base64.b64encode(self.sign_export(request)).decode()}
        raise Refused(f"unknown op {op!r}")

    def checkpoint(self) -> Checkpoint | None:
        state = read_state(self.state_path)
        conn = open_read_only(self.audit_path)
        try:
            row = conn.execute("SELECT max(seq) FROM audit").fetchone()
            head = int(row[0] or 0)
            if head < state.seq:
                raise Refused(
                    f"audit.db ends at seq {head}, but I signed seq {state.seq} (history truncated)"
                )
            digest = verify_chain(conn, state, head)
        finally:
            conn.close()
        if head == 0:
            return None
        if head != state.seq:
            write_state(self.state_path, Signed(head, digest))
        cp = make_checkpoint(self.signer, head, digest, now())
        log.info("signed checkpoint at seq %d", head)
        ship(self.shipper, cp)
        return cp

    def sign_export(self, req: dict[str, Any]) -> bytes:
        first, last = req.get("first_seq"), req.get("last_seq")
        manifest, sums = req.get("manifest"), req.get("sums")
        host, formats = req.get("host"), req.get("formats")
        if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last):
            raise Refused("first_seq/last_seq must be integers with first <= last")
        if not (isinstance(manifest, str) and isinstance(sums, str) and isinstance(host, str)):
            raise Refused("manifest, sums and host must be strings")
        if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
            raise Refused("formats must be a list of strings")
        state = read_state(self.state_path)
        if last > state.seq:
            raise Refused(f"records after seq {state.seq} are not checkpointed yet")
        public = self.signer.public
        conn = open_read_only(self.audit_path)
        try:
            rows = read_rows(sqlite_utils.Database(conn), first, last) if first else []
            if rows:
                start = Signed(first - 1, rows[0]["prev_hash"])
                verify_chain(conn, start, last)
                if verify_chain(conn, Signed(last, rows[-1]["hash"]), state.seq) != state.hash:
                    raise Refused("these records are not the history I signed")
            cps = [
                Checkpoint(
                    seq=r["seq"],
                    hash=r["hash"],
                    ts=r["ts"],
                    key_id=r["key_id"],
                    signature=r["signature"],
                )
                for r in conn.execute(
                    "SELECT * FROM audit_checkpoints WHERE seq >= ? AND seq <= ? ORDER BY seq",
                    [first, last],
                )
            ]
        except (sqlite3.Error, ValueError) as exc:
            raise Refused(f"cannot read audit.db: {exc}") from None
        finally:
            conn.close()
        if not all(verify_checkpoint(public, dict(c)) for c in cps):
            raise Refused("audit_checkpoints holds a checkpoint I did not sign")
        try:
            data = json.loads(manifest)
        except ValueError:
            raise Refused("manifest is not JSON") from None
        facts = manifest_facts(rows, first, last, public)
        if not isinstance(data, dict) or data.get("type") != EXPORT_TYPE:
            raise Refused("not an export manifest")
        if any(data.get(k) != v for k, v in facts.items()):
            raise Refused("the manifest does not describe these records")
        files = bundle_files(rows, cps, public, manifest, check_formats(formats), host)
        mine = sums_text(files)
        if mine != sums:
            raise Refused("SHA256SUMS does not match the bundle rebuilt from audit.db")
        log.info("signed export of seq %d..%d", first, last)
        return self.signer.sign(mine.encode())


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def allowed_uids(audit_path: Path) -> frozenset[int]:
    """Root, this process's user, and the owner of audit.db (the services' user)."""
    uids = {0, os.getuid()}
    with contextlib.suppress(OSError):
        uids.add(audit_path.stat().st_uid)
    return frozenset(uids)


class _Handler(socketserver.StreamRequestHandler):
    server: SignerServer

    def handle(self) -> None:
        self.connection.settimeout(10.0)
        try:
            request = read_line(self.connection)  # first: the client is answered, not reset
            uid = peer_uid(self.connection)
            if uid not in allowed_uids(self.server.notary.audit_path):
                raise Refused(f"uid {uid} may not ask for signatures")
            answer = {"ok": True, **self.server.notary.handle(json.loads(request))}
        except Refused as exc:
            log.warning("refused: %s", exc)
            answer = {"ok": False, "error": str(exc)}
        except (SignerError, ValueError, OSError, sqlite3.Error) as exc:
            log.warning("bad request: %s", exc)
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(OSError):
            self.connection.sendall(json.dumps(answer).encode() + b"\n")


class SignerServer(socketserver.UnixStreamServer):
    """One request at a time: signatures and the state file are serialised."""

    def __init__(self, path: Path, notary: Notary) -> None:
        self.notary = notary
        if path.exists() and stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()  # a stale socket from a previous run
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(str(path), _Handler)
        os.chmod(path, 0o660)  # the services' group may connect; SO_PEERCRED decides
        self.path = path

    def server_close(self) -> None:
        super().server_close()
        self.path.unlink(missing_ok=True)


__all__ = ["Notary", "Refused", "SignerServer", "read_state", "verify_chain"]


def signer_paths(settings: Settings, socket_path: Path | None = None) -> tuple[Path, Path]:
    """(the signer's key and state dir, its socket path)."""
    a = settings.audit
    key_dir = Path(a.signer_dir) if a.signer_dir else settings.keys_dir
    if socket_path is None:
        socket_path = Path(a.signer_socket) if a.signer_socket else settings.data_dir / SOCKET
    return key_dir, socket_path


def serve_signer(settings: Settings, socket_path: Path | None = None) -> None:
    """`revisor signer`: serve until SIGTERM or SIGINT."""
    from revisor import logs

    key_dir, path = signer_paths(settings, socket_path)
    logs.configure("signer", settings.log)  # stderr only: the journal
    if not (key_dir / SIGNING_KEY_NAME).exists():
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        ensure_signing_key(key_dir)
        log.warning("created a new audit signing key in %s: auditors must pin it", key_dir)
    signer = Signer.load(key_dir / SIGNING_KEY_NAME)
    shipper = shipper_for(settings.audit.syslog, fingerprint(signer.public))
    server = SignerServer(path, Notary(signer, settings.audit_path, key_dir, shipper))

    def stop(signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("audit signer (key %s) listening on %s", signer.key_id, path)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()


def spawn_signer(
    command: list[str],
    socket_path: Path,
    start: Callable[[list[str]], subprocess.Popen[bytes]] = subprocess.Popen,
) -> subprocess.Popen[bytes]:
    """Start `revisor signer` as a child (`revisor up`, through `start`) and wait (bounded) for
    its socket."""
    socket_path.unlink(missing_ok=True)
    proc = start([*command, "--socket", str(socket_path)])
    for _ in range(300):  # 30 s
        if socket_path.exists():
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)
    raise SignerError(f"revisor signer did not start (exit code {proc.returncode})")
