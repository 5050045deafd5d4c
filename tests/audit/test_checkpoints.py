"""When checkpoints are made (N records, M minutes, the worker's timer), where they are shipped
(syslog, through a real Unix datagram socket), and what `verify` says about the unsigned tail."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from revisor.audit import AuditLog, Event, Signer, ensure_signing_key
from revisor.audit.export import export_audit
from revisor.audit.keys import fingerprint
from revisor.audit.ship import SyslogShipper, syslog_address
from revisor.audit.timer import CheckpointTimer
from revisor.audit.verify import verify_export
from revisor.audit.witness import read_witness
from revisor.config import AuditSettings, Settings

Fill = Callable[[AuditLog, int], None]


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_periodic_checkpoint_after_n_records(log: AuditLog, fill: Fill) -> None:
    fill(log, 4)
    assert log.checkpoints() == []
    fill(log, 1)
    assert [c["seq"] for c in log.checkpoints()] == [5]
    fill(log, 2)
    log.checkpoint()  # an export's (or `audit checkpoint`'s) at seq 7
    fill(log, 4)
    assert [c["seq"] for c in log.checkpoints()] == [5, 7]  # N counts from the last one...
    fill(log, 1)
    assert [c["seq"] for c in log.checkpoints()] == [5, 7, 12]  # ...not from multiples of N


def test_checkpoint_after_m_minutes_at_append_and_by_the_timer(
    tmp_path: Path, signer: Signer
) -> None:
    clock = Clock()
    log = AuditLog(
        tmp_path / "audit.db",
        signer=signer,
        checkpoint_every=100,
        checkpoint_seconds=300,
        clock=clock,
    )
    timer = CheckpointTimer(log)
    log.record(Event.SIGNOUT, actor="user:a", target="user:a")
    clock.t += 200
    log.record(Event.SIGNOUT, actor="user:b", target="user:b")
    assert timer.tick() == 0  # the oldest unsigned record has waited 200 s
    assert log.checkpoints() == []
    clock.t += 100
    log.record(Event.SIGNOUT, actor="user:c", target="user:c")
    assert [c["seq"] for c in log.checkpoints()] == [3]  # seq 1 waited 300 s
    log.record(Event.SIGNOUT, actor="user:d", target="user:d")
    clock.t += 299
    assert timer.tick() == 0
    clock.t += 1
    assert timer.tick() == 4  # nobody appended: the timer signs the quiet tail
    assert timer.tick() == 0  # nothing new since
    log.close()


def test_time_rule_is_configurable(tmp_path: Path) -> None:
    (tmp_path / "revisor.toml").write_text(
        "[audit]\ncheckpoint_every = 7\ncheckpoint_minutes = 0.5\nsyslog = 'off'\n"
    )
    from revisor import config

    s = config.load(tmp_path, environ={})
    ensure_signing_key(s.keys_dir)
    log = AuditLog.from_settings(s)
    assert (log.checkpoint_every, log.checkpoint_seconds, log.shipper) == (7, 30.0, None)
    log.close()


@pytest.fixture
def syslog_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    path = tmp_path / "log.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, path
    sock.close()


def test_syslog_receives_each_checkpoint(
    tmp_path: Path,
    syslog_socket: tuple[socket.socket, Path],
    fill: Fill,
) -> None:
    sock, path = syslog_socket
    settings = Settings(
        data_dir=tmp_path, audit=AuditSettings(checkpoint_every=3, syslog=str(path))
    )
    ensure_signing_key(settings.keys_dir)
    log = AuditLog.from_settings(settings)
    fill(log, 3)
    datagram = sock.recv(65536).decode()
    # <facility log audit (13) * 8 + notice (5)>, then the ident and the witness JSON.
    assert datagram.startswith("<109>revisor-audit: {")
    line = json.loads(datagram.split("revisor-audit: ", 1)[1])
    cp = log.checkpoints()[0]
    assert {k: line[k] for k in cp} == dict(cp)
    assert line["fingerprint"] == fingerprint(log.public_key())

    # The syslog line, saved as it arrived, is a witness `audit verify` accepts.
    saved = tmp_path / "from-syslog.txt"
    saved.write_text(f"Nov 29 23:00:00 appliance {datagram.split('>', 1)[1]}")
    out = tmp_path / "exp"
    export_audit(log, out)
    assert sock.recv(65536).decode().startswith("<109>")  # the export's own checkpoint
    report = verify_export(out, witness=read_witness(saved))
    assert report.ok, report.summary()
    log.close()


def test_syslog_down_does_not_refuse_the_record(tmp_path: Path, signer: Signer, fill: Fill) -> None:
    log = AuditLog(tmp_path / "audit.db", signer=signer, checkpoint_every=1)
    log.shipper = SyslogShipper(str(tmp_path / "nobody-listens"), fingerprint(signer.public))
    fill(log, 2)
    assert [c["seq"] for c in log.checkpoints()] == [1, 2]  # signed and stored all the same
    log.close()


def test_syslog_setting() -> None:
    assert syslog_address("off") is None
    assert syslog_address("auto", Path("/nonexistent/dev/log")) is None
    assert syslog_address("auto", Path(__file__)) == __file__
    assert syslog_address("/run/systemd/journal/syslog") == "/run/systemd/journal/syslog"
    assert syslog_address("10.0.0.5:514") == ("10.0.0.5", 514)
    with pytest.raises(ValueError, match="host:port"):
        syslog_address("loghost")


def test_verify_reports_the_unsigned_tail(tmp_path: Path, signer: Signer) -> None:
    clock = Clock()
    log = AuditLog(tmp_path / "audit.db", signer=signer, checkpoint_every=5, clock=clock)
    for i in range(12):
        clock.t += 1
        log.record(Event.SIGNOUT, actor=f"user:{i}", target="x")
    out = tmp_path / "exp"
    # Up to (not including) record 9: checkpoint 5 is inside, records 6..8 are not covered.
    until = next(r["ts"] for r in log.records() if r["seq"] == 9)
    export_audit(log, out, until=until)
    report = verify_export(out)
    assert report.ok, report.summary()
    assert (report.last_checkpoint_seq, report.last_seq, report.unsigned_tail) == (5, 8, 3)
    assert "records 6..8 are an unsigned tail" in report.summary()

    full = tmp_path / "full"
    export_audit(log, full)
    report = verify_export(full)
    assert report.unsigned_tail == 0
    assert "every record is covered by a signed checkpoint" in report.summary()
    log.close()


def test_records_cut_below_a_checkpoint_in_the_export_are_named(
    tmp_path: Path, log: AuditLog, fill: Fill
) -> None:
    """An export whose records were cut (and its manifest and sums redone, without the key)."""
    fill(log, 12)
    out = tmp_path / "exp"
    export_audit(log, out)
    rows = (out / "records.jsonl").read_text().splitlines()
    (out / "records.jsonl").write_text("".join(r + "\n" for r in rows[:9]))
    report = verify_export(out)
    assert not report.ok
    assert any("signed checkpoint vouches for seq 12" in p for p in report.problems)
