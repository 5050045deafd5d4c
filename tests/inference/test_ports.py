"""Busy ports and their holders: a real listening socket, and a /proc laid out by hand."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from revisor.errors import ConfigError
from revisor.inference.ports import (
    Holder,
    PortBusy,
    bind_error,
    describe_holder,
    ensure_free,
    socket_holders,
    socket_inodes,
)

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"  # noqa: E501


def row(local: str, state: str, inode: int) -> str:
    return f"   0: {local} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 0000000000000000 100 0 0 10 0\n"  # noqa: E501


def fake_proc(
    root: Path, *, tcp: str = "", tcp6: str = "", procs: dict[int, tuple[str, bytes]]
) -> Path:
    """/proc with net/tcp{,6} and, per pid, one fd linked to a socket and a command line."""
    (root / "net").mkdir(parents=True)
    (root / "net" / "tcp").write_text(HEADER + tcp)
    (root / "net" / "tcp6").write_text(HEADER + tcp6)
    (root / "self").mkdir()  # not a pid: skipped
    for pid, (link, command) in procs.items():
        (root / str(pid) / "fd").mkdir(parents=True)
        (root / str(pid) / "fd" / "3").symlink_to(link)
        (root / str(pid) / "cmdline").write_bytes(command)
    return root


def test_a_listening_socket_is_found_with_its_process() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert bind_error("127.0.0.1", port) is not None
        inode = os.fstat(holder.fileno()).st_ino
        assert inode in socket_inodes(port)
        holders = socket_holders({inode})
        assert [h.pid for h in holders] == [os.getpid()]
        assert holders[0].command.startswith(sys.orig_argv[0])  # as this process was started
        with pytest.raises(PortBusy) as exc:
            ensure_free("127.0.0.1", port, what="the web server", setting="server.port")
        message = str(exc.value)
        assert f"127.0.0.1:{port}: port {port} is already in use by pid {os.getpid()} (" in message
        assert "(server.port)" in message
    assert bind_error("127.0.0.1", port) is None
    ensure_free("127.0.0.1", port, what="the web server", setting="server.port")


def test_a_wildcard_listener_blocks_loopback_and_ipv6_is_read_too(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        tcp=row("00000000:1F91", "01", 41) + row("0100007F:1F92", "0A", 42),
        tcp6=row("00000000000000000000000000000000:1F91", "0A", 43),
        procs={
            7: ("socket:[43]", b"/usr/bin/vllm\0serve\0/models/x\0"),
            9: ("socket:[41]", b"curl\0http://x\0"),
        },
    )
    # Port 8081 (0x1F91): one established socket, one IPv6 listener; the listener wins.
    assert socket_inodes(8081, proc) == {43}
    assert describe_holder(8081, proc) == "pid 7 (/usr/bin/vllm serve /models/x)"
    assert socket_inodes(8082, proc) == {42}
    assert describe_holder(8082, proc) == "another process"  # nobody we may see holds it
    assert socket_inodes(9999, proc) == set()


def test_a_secret_on_the_holders_command_line_is_redacted(tmp_path: Path) -> None:
    password = "hunter2-Zq8xW3pL9vK2mN7r"
    proc = fake_proc(
        tmp_path,
        tcp=row("0100007F:1F91", "0A", 50),
        procs={11: ("socket:[50]", f"app\0--password={password}\0".encode())},
    )
    text = describe_holder(8081, proc)
    assert text.startswith("pid 11 (app --password=")
    assert password not in text


def test_holder_text_and_other_bind_errors() -> None:
    assert Holder(5, "").describe() == "pid 5"
    assert Holder(5, "x y").describe() == "pid 5 (x y)"
    with pytest.raises(ConfigError, match=r"cannot listen on 192\.0\.2\.1:8081") as exc:
        ensure_free("192.0.2.1", 8081, what="the model sidecar", setting="model.sidecar_host")
    assert not isinstance(exc.value, PortBusy)
