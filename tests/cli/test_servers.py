"""`revisor server ...` and what `revisor repo add` refuses: bad URLs, servers nobody allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from revisor import config
from revisor.audit import AuditLog
from revisor.cli import main
from revisor.context import Context
from revisor.outbound import configured_egress
from tests.test_gitservers import BAD_URLS


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    d = tmp_path / "data"
    assert run(capsys, "init", "--data-dir", str(d))[0] == 0
    (tmp_path / "token").write_text("glpat-cli-servers-token-123456\n")
    return d


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for the many refusals (they change nothing, which the test checks)."""
    d = tmp_path_factory.mktemp("refusals") / "data"
    assert main(["init", "--data-dir", str(d)]) == 0
    (d.parent / "token").write_text("glpat-cli-servers-token-123456\n")
    return d


def repo_add(
    capsys: pytest.CaptureFixture[str], d: Path, server: str, *extra: str
) -> tuple[int, str, str]:
    token = str(d.parent / "token")
    return run(
        capsys, "repo", "add", "gitlab", "--server", server, "--project", "g/app",
        "--token-file", token, "--data-dir", str(d), *extra,
    )  # fmt: skip


def egress_hosts(d: Path) -> frozenset[tuple[str, int]]:
    rt = Context(config.load(d, environ={}))
    try:
        return configured_egress(rt.settings, rt.db).allowed
    finally:
        rt.close()


def audit_events(d: Path) -> list[tuple[str, str]]:
    log = AuditLog(config.load(d, environ={}).audit_path)
    try:
        return [(r["event"], r["target"]) for r in log.records()]
    finally:
        log.close()


@pytest.mark.parametrize(("url", "why"), BAD_URLS, ids=[ascii(u)[:40] for u, _ in BAD_URLS])
def test_repo_add_refuses_each_bad_url_with_exit_2_and_the_reason(
    shared: Path, capsys: pytest.CaptureFixture[str], url: str, why: str
) -> None:
    capsys.readouterr()
    code, out, err = repo_add(capsys, shared, url)
    assert code == 2
    assert why in err
    assert err.startswith("revisor: error: ")
    assert out == ""
    assert json.loads(run(capsys, "repo", "list", "--data-dir", str(shared), "--json")[1]) == []


@pytest.mark.parametrize("url", ["https://u:p@gitlab.test", "http://0x7f.1/", "https://x/?a=b"])
def test_server_add_refuses_bad_urls_too(
    data: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, _, err = run(capsys, "server", "add", url, "--data-dir", str(data))
    assert code == 2
    assert "refused" in err
    assert json.loads(run(capsys, "server", "list", "--data-dir", str(data), "--json")[1]) == []


def test_repo_add_needs_a_server_an_admin_allowed_and_never_widens_egress(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = egress_hosts(data)
    code, _, err = repo_add(capsys, data, "https://gitlab.test")
    assert code == 2
    assert "not on the list of allowed servers" in err
    assert "revisor server add https://gitlab.test" in err
    assert egress_hosts(data) == before
    assert ("gitlab.test", 443) not in before

    code, out, _ = run(
        capsys, "server", "add", "HTTPS://GitLab.Test:443/", "--data-dir", str(data), "--json"
    )
    assert code == 0
    assert json.loads(out)["url"] == "https://gitlab.test"
    allowed = egress_hosts(data)
    assert allowed == before | {("gitlab.test", 443)}
    # the same server, spelled another way, is the allowed one
    code, out, _ = repo_add(capsys, data, "https://GITLAB.test/", "--json")
    assert code == 0
    assert json.loads(out)["server"] == "https://gitlab.test"
    assert egress_hosts(data) == allowed
    # a path prefix is part of the server: another prefix is another server
    assert repo_add(capsys, data, "https://gitlab.test/other")[0] == 2


def test_server_list_remove_and_audit(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(data)
    assert run(capsys, "server", "add", "https://gitlab.test", "--data-dir", d)[0] == 0
    code, out, _ = run(capsys, "server", "add", "https://gitlab.test/", "--data-dir", d)
    assert code == 0
    assert "already allowed" in out
    assert repo_add(capsys, data, "https://gitlab.test")[0] == 0
    code, out, _ = run(capsys, "server", "list", "--data-dir", d, "--json")
    [server] = json.loads(out)
    assert server["url"] == "https://gitlab.test"
    assert server["added_by"].startswith("cli:")
    code, _, err = run(capsys, "server", "remove", "https://gitlab.test", "--data-dir", d)
    assert code == 2
    assert "1 registered repository uses https://gitlab.test; remove them first" in err
    assert run(capsys, "repo", "remove", "1", "--data-dir", d)[0] == 0
    assert run(capsys, "server", "remove", str(server["id"]), "--data-dir", d)[0] == 0
    assert json.loads(run(capsys, "server", "list", "--data-dir", d, "--json")[1]) == []
    assert ("gitlab.test", 443) not in egress_hosts(data)
    assert run(capsys, "server", "remove", "https://gitlab.test", "--data-dir", d)[0] == 2
    events = [e for e in audit_events(data) if e[0].startswith("server.")]
    assert events == [
        ("server.allowed", "server:https://gitlab.test"),
        ("server.removed", "server:https://gitlab.test"),
    ]


def test_init_creates_the_ca_directory_the_dashboard_reads_from(data: Path) -> None:
    assert (data / "ca").is_dir()


def test_the_cli_keeps_ca_files_anywhere_the_local_admin_names(
    data: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The CLI runs on the appliance as its admin, who can read the file anyway: any path that
    exists is fine there (the dashboard is confined to <data_dir>/ca)."""
    ca = tmp_path / "elsewhere.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert run(capsys, "server", "add", "https://gitlab.test", "--data-dir", str(data))[0] == 0
    code, out, _ = repo_add(capsys, data, "https://gitlab.test", "--ca-file", str(ca), "--json")
    assert code == 0
    assert json.loads(out)["ca_file"] == str(ca.resolve())
