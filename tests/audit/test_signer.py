"""`revisor signer`: the key in its own process, signing only history that continues what it
signed before. Unit tests on `Notary`, then the real process on a real Unix socket."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from revisor.audit import AuditLog, Signer, ensure_signing_key
from revisor.audit.export import export_audit
from revisor.audit.keys import fingerprint
from revisor.audit.log import record_hash
from revisor.audit.notary import RemoteSigner, SignerError
from revisor.audit.signer import Notary, Refused, read_state
from revisor.audit.verify import verify_export
from revisor.cli import main
from revisor.errors import AuditWriteError

Fill = Callable[[AuditLog, int], None]


def rechain(db_path: Path, from_seq: int, actor: str = "user:mallory") -> None:
    """What someone with write access to audit.db (but not the key) does: rewrite records from
    `from_seq` on and recompute every later hash so the chain is consistent again."""
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    with conn:
        prev = conn.execute("SELECT hash FROM audit WHERE seq = ?", [from_seq - 1]).fetchone()
        prev_hash = prev["hash"] if prev else "0" * 64
        for row in conn.execute("SELECT * FROM audit WHERE seq >= ? ORDER BY seq", [from_seq]):
            body = {k: row[k] for k in row.keys() if k != "hash"}  # noqa: SIM118
            body["details"] = json.loads(body["details"])
            body["actor"], body["prev_hash"] = actor, prev_hash
            prev_hash = record_hash(body)
            conn.execute(
                "UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                [actor, body["prev_hash"], prev_hash, row["seq"]],
            )
    conn.close()


@pytest.fixture
def plain_log(tmp_path: Path) -> Iterator[AuditLog]:
    """The services' side: records, no key."""
    log = AuditLog(tmp_path / "audit.db")
    yield log
    log.close()


@pytest.fixture
def notary(tmp_path: Path, signer: Signer) -> Notary:
    state = tmp_path / "signer-state"
    state.mkdir()
    return Notary(signer, tmp_path / "audit.db", state)


def test_signs_the_head_it_reads_and_remembers_it(
    notary: Notary, plain_log: AuditLog, fill: Fill, signer: Signer
) -> None:
    assert notary.checkpoint() is None  # empty log
    fill(plain_log, 4)
    cp = notary.checkpoint()
    assert cp is not None
    assert (cp["seq"], cp["hash"]) == plain_log.head()
    assert read_state(notary.state_path).seq == 4
    assert oct(notary.state_path.stat().st_mode & 0o777) == "0o600"
    fill(plain_log, 2)
    cp = notary.checkpoint()
    assert cp is not None
    assert cp["seq"] == 6


def test_refuses_to_sign_a_rewritten_chain(notary: Notary, plain_log: AuditLog, fill: Fill) -> None:
    fill(plain_log, 5)
    assert notary.checkpoint() is not None
    fill(plain_log, 3)
    rechain(plain_log.db.conn.execute("PRAGMA database_list").fetchone()[2], from_seq=3)
    with pytest.raises(Refused, match=r"record 5 is not the one I signed \(history rewritten\)"):
        notary.checkpoint()
    assert read_state(notary.state_path).seq == 5  # nothing new was signed


def test_refuses_to_sign_a_truncated_chain(notary: Notary, plain_log: AuditLog, fill: Fill) -> None:
    fill(plain_log, 5)
    assert notary.checkpoint() is not None
    plain_log.db.conn.execute("DELETE FROM audit WHERE seq > 3")
    plain_log.db.conn.commit()
    with pytest.raises(Refused, match="ends at seq 3, but I signed seq 5"):
        notary.checkpoint()
    # ...and cannot be fooled by refilling to the same length either.
    fill(plain_log, 2)
    with pytest.raises(Refused, match="history rewritten"):
        notary.checkpoint()


def test_refuses_a_tail_that_does_not_link(notary: Notary, plain_log: AuditLog, fill: Fill) -> None:
    fill(plain_log, 3)
    assert notary.checkpoint() is not None
    fill(plain_log, 3)
    plain_log.db.conn.execute("UPDATE audit SET actor = 'user:eve' WHERE seq = 5")
    plain_log.db.conn.commit()
    with pytest.raises(Refused, match="record 5 does not match its hash"):
        notary.checkpoint()


def test_signs_only_an_export_it_rebuilt_itself(
    notary: Notary, plain_log: AuditLog, fill: Fill
) -> None:
    fill(plain_log, 4)
    assert notary.checkpoint() is not None
    base = {"op": "sign_export", "first_seq": 1, "last_seq": 4, "formats": [], "host": "h"}
    for bad, reason in [
        ({"manifest": "{}", "sums": "x"}, "not an export manifest"),
        ({"first_seq": 1, "last_seq": 9, "manifest": "{}", "sums": ""}, "not checkpointed"),
        ({"op": "sign", "message": "aGVsbG8="}, "unknown op 'sign'"),
    ]:
        with pytest.raises(Refused, match=reason):
            notary.handle({**base, **bad})


@pytest.fixture
def signer_process(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    data = tmp_path / "d"
    assert main(["init", "--data-dir", str(data)]) == 0
    sock = data / "run" / "signer.sock"
    env = {**os.environ, "REVISOR_AUDIT__SYSLOG": "off"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "revisor", "signer", "--data-dir", str(data)],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):  # bounded: 30 s
            if sock.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert sock.exists(), proc.stderr.read().decode() if proc.poll() is not None else ""
        yield data, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def test_signer_process_signs_for_a_keyless_service(
    signer_process: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path, fill: Fill
) -> None:
    data, proc = signer_process
    sock = data / "run" / "signer.sock"
    assert oct(sock.stat().st_mode & 0o777) == "0o660"
    remote = RemoteSigner(sock)
    key = Signer.load(ensure_signing_key(data / "keys"))
    assert fingerprint(remote.public_key()) == fingerprint(key.public)

    log = AuditLog(data / "audit.db", remote=remote, checkpoint_every=3)
    assert log.signer is None  # this side never holds the key
    fill(log, 7)
    assert [c["seq"] for c in log.checkpoints()] == [3, 6]

    out = tmp_path / "exp"
    export_audit(log, out, formats=["syslog"])
    report = verify_export(out, expected_fingerprint=fingerprint(key.public))
    assert report.ok, report.summary()
    assert report.unsigned_tail == 0
    assert report.last_seq == 7

    # The web server is compromised and rewrites history: the signer will not sign it.
    rechain(data / "audit.db", from_seq=2)
    with pytest.raises(AuditWriteError, match="history rewritten"):
        log.checkpoint()
    with pytest.raises(SignerError, match="history rewritten"):
        remote.call({"op": "checkpoint"})
    log.close()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert not sock.exists()


CLIENT = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b'{"op": "public_key"}\\n')
print(s.makefile().readline())
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs /usr/bin/python3")
def test_peer_credentials_decide_who_may_ask(notary: Notary, plain_log: AuditLog) -> None:
    import tempfile
    import threading

    from revisor.audit.signer import SignerServer

    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 (another uid must reach the socket)
        sock = Path(tmp) / "s.sock"
        server = SignerServer(sock, notary)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
        thread.start()
        try:
            os.chmod(sock, 0o666)  # noqa: S103 (the filesystem lets it through; SO_PEERCRED must not)
            ok = RemoteSigner(sock).call({"op": "public_key"})  # root: allowed
            assert ok["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
            proc = subprocess.run(
                ["/usr/bin/python3", "-c", CLIENT, str(sock)],
                user=65534,
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
                cwd="/",
                env={"PATH": "/usr/bin:/bin"},
            )
            answer = json.loads(proc.stdout)
            assert answer == {"ok": False, "error": "uid 65534 may not ask for signatures"}
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
        assert not sock.exists()


def test_doctor_checks_the_signer_instead_of_a_key_file(
    signer_process: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    import dataclasses

    from revisor import config
    from revisor.ops.checks import check_keys, check_permissions

    data, _proc = signer_process
    base = config.load(data, environ={})
    (data / "keys" / "audit_ed25519.pem").rename(data / "signer-key.pem")  # gone from keys/
    gone = dataclasses.replace(
        base, audit=dataclasses.replace(base.audit, signer_socket=str(data / "nobody.sock"))
    )
    (bad,) = [c for c in check_keys(gone) if c.name == "keys:audit"]
    assert not bad.ok
    assert "systemctl start revisor-signer" in bad.fix
    live = dataclasses.replace(
        base, audit=dataclasses.replace(base.audit, signer_socket=str(data / "run/signer.sock"))
    )
    (good,) = [c for c in check_keys(live) if c.name == "keys:audit"]
    assert good.ok, good.detail
    assert "held by revisor signer" in good.detail
    data.chmod(0o710)  # group x for the signer's user: fine with a signer, not without
    assert all(c.ok for c in check_permissions(live))
    assert not all(c.ok for c in check_permissions(base))
