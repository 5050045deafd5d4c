"""HTTPS without a proxy: `revisor init --self-signed-tls` and `revisor serve` on Granian's TLS.

The certificate is read back by `openssl x509`; the server is a real `revisor serve` on
loopback, reached with httpx trusting only that certificate.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from revisor import config
from revisor.audit import AuditLog
from revisor.cli import main
from revisor.cli.observe import probe_web
from revisor.cli.processes import granian_tls
from revisor.context import Context
from revisor.errors import ConfigError
from revisor.web import tls
from tests.reliability.harness import Server

HOST = "revisor.test.internal"


def init(capsys: pytest.CaptureFixture[str], d: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """`revisor init --json ...`: (exit code, the JSON, or {"error": stderr} on failure)."""
    code = main(["init", "--data-dir", str(d), "--json", *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else {"error": err}


def test_init_makes_a_self_signed_certificate_and_configures_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "data"
    code, result = init(capsys, d, "--self-signed-tls", "--tls-hostname", HOST)
    assert code == 0
    cert, key = d / "tls" / "cert.pem", d / "tls" / "key.pem"
    assert result["tls_cert"] == str(cert.resolve())
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    text = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert f"DNS:{HOST}" in text
    assert "IP Address:127.0.0.1" in text
    assert "CA:FALSE" in text
    assert "TLS Web Server Authentication" in text
    settings = config.load(d, environ={})
    assert settings.web.tls
    assert Path(settings.web.tls_cert) == cert.resolve()
    assert Path(settings.web.tls_key) == key.resolve()
    assert settings.server.public_url == f"https://{HOST}:8080"
    assert settings.cookies_secure
    # once made, kept: a second run changes neither the certificate nor the config
    before = (cert.read_bytes(), (d / config.CONFIG_NAME).read_text())
    code, again = init(capsys, d, "--self-signed-tls")
    assert code == 0
    assert again["tls_created"] is False
    assert (cert.read_bytes(), (d / config.CONFIG_NAME).read_text()) == before


def test_init_refuses_half_a_pair_and_a_hostname_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "data"
    assert init(capsys, d, "--tls-hostname", HOST)[0] == 2
    assert not d.exists()  # refused before anything was made
    (d / "tls").mkdir(parents=True)
    (d / "tls" / "key.pem").write_text("a key someone left here\n")
    code, refused = init(capsys, d, "--self-signed-tls")
    assert code == 2
    assert "partner" in refused["error"]
    assert (d / "tls" / "key.pem").read_text() == "a key someone left here\n"
    assert not config.load(d, environ={}).web.tls


def test_init_refuses_a_bad_hostname(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "data"
    assert init(capsys, d, "--self-signed-tls", "--tls-hostname", "bad host/x")[0] == 2
    assert not (d / "tls" / "key.pem").exists()


def test_set_missing_adds_keys_below_the_header_and_keeps_what_is_set() -> None:
    text = '[server]\nport = 9000\n\n[web]\n# a comment\ntls_cert = "/mine.pem"\n'
    out = config.set_missing(text, "web", {"tls_cert": "/x.pem", "tls_key": "/k.pem"})
    assert out.splitlines()[3:6] == ["[web]", 'tls_key = "/k.pem"', "# a comment"]
    assert 'tls_cert = "/mine.pem"' in out
    assert "/x.pem" not in out
    appended = config.set_missing("[server]\nport = 9000\n", "web", {"tls_key": 'a"b'})
    assert appended.endswith('[web]\ntls_key = "a\\"b"\n')
    with pytest.raises(ConfigError):
        config.set_missing("[web\n", "web", {"tls_key": "x"})


def test_serve_refuses_a_missing_key_file_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "data"
    assert init(capsys, d, "--self-signed-tls", "--tls-hostname", HOST)[0] == 0
    (d / "tls" / "key.pem").unlink()
    assert main(["serve", "--data-dir", str(d), "--port", "1"]) == 2
    assert "[web] tls_key" in capsys.readouterr().err


# --- a real server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("tls")
    d = root / "data"
    code = main(["init", "--data-dir", str(d), "--self-signed-tls", "--tls-hostname", HOST])
    assert code == 0
    cfg = d / config.CONFIG_NAME
    text = cfg.read_text().replace("[web]\n", '[web]\ntrusted_proxies = ["127.0.0.1"]\n', 1)
    cfg.write_text(text)
    server = Server(d, root, ca=d / "tls" / "cert.pem")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_serve_speaks_https_with_the_generated_certificate(https_server: Server) -> None:
    with httpx.Client(base_url=https_server.url, verify=https_server.verify) as client:
        r = client.get("/login")
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("revisor_login_csrf=")
        assert "Secure" in cookie
    # the certificate is not one the system trusts, and plain HTTP gets no answer
    with pytest.raises(httpx.ConnectError) as refused:
        httpx.get(https_server.url + "/healthz", timeout=5)
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    with pytest.raises(httpx.HTTPError):
        httpx.get(https_server.url.replace("https:", "http:") + "/healthz", timeout=5)


@pytest.mark.slow
def test_forwarded_for_from_a_trusted_proxy_reaches_the_audit_log(https_server: Server) -> None:
    """127.0.0.1 is a trusted proxy here: the address it forwards is the one audited."""
    with httpx.Client(base_url=https_server.url, verify=https_server.verify) as client:
        page = client.get("/login")
        token = page.text.split('name="_csrf" value="', 1)[1].split('"', 1)[0]
        r = client.post(
            "/login",
            data={"username": "admin", "password": "wrong", "_csrf": token},
            headers={"x-forwarded-for": "6.6.6.6, 192.0.2.44"},
        )
        assert r.status_code == 401
    log = AuditLog(https_server.data_dir / "audit.db")
    try:
        failed = [r for r in log.records() if r["event"] == "auth.signin.failed"]
    finally:
        log.close()
    assert [r["source"] for r in failed] == ["192.0.2.44"]
    assert failed[0]["actor"] == "user:admin"


@pytest.mark.slow
def test_status_probes_the_https_server(https_server: Server) -> None:
    env = {"REVISOR_SERVER__PORT": str(https_server.port)}
    rt = Context(config.load(https_server.data_dir, environ=env))
    try:
        service = probe_web(rt)
    finally:
        rt.close()
    assert service.up, service.detail
    assert service.detail.startswith(f"https://127.0.0.1:{https_server.port}: ")


def test_default_hostnames_skip_loopback_and_unusable_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tls.socket, "getfqdn", lambda: "box_7.internal")  # "_": not a DNS name
    assert tls.default_hostnames("https://revisor.corp:8080") == ("revisor.corp",)
    assert tls.default_hostnames("http://127.0.0.1:8080") == ("localhost",)
    monkeypatch.setattr(tls.socket, "getfqdn", lambda: "box7.internal")
    assert tls.default_hostnames("https://10.0.0.9:8080") == ("box7.internal", "10.0.0.9")


REPO = Path(__file__).resolve().parents[2]


def test_the_appliance_serves_https_by_default(tmp_path: Path) -> None:
    (tmp_path / config.CONFIG_NAME).write_text((REPO / "appliance" / "revisor.toml").read_text())
    settings = config.load(tmp_path, environ={})
    assert settings.web.tls
    assert settings.server.public_url.startswith("https://")
    assert settings.cookies_secure
    # both ways an appliance gets its data dir make the certificate the config names
    install = (REPO / "packaging" / "install.sh").read_text()
    firstboot = (REPO / "packaging" / "image" / "revisor-firstboot.service").read_text()
    assert re.search(r"revisor\" init --data-dir \"\$DATA_DIR\" --self-signed-tls", install)
    assert re.search(r"revisor init --data-dir /var/lib/revisor --self-signed-tls", firstboot)


def test_set_missing_finds_a_commented_header_and_refuses_an_inline_table() -> None:
    out = config.set_missing("[web]   # TLS\n", "web", {"tls_key": "/k.pem"})
    assert out == '[web]   # TLS\ntls_key = "/k.pem"\n'
    with pytest.raises(ConfigError, match="cannot add"):
        config.set_missing('web = {trusted_proxies = ["10.0.0.5"]}\n', "web", {"tls_key": "x"})


def test_relative_tls_paths_are_in_the_data_dir(tmp_path: Path) -> None:
    (tmp_path / config.CONFIG_NAME).write_text('[web]\ntls_cert = "c.pem"\ntls_key = "k.pem"\n')
    settings = config.load(tmp_path, environ={})
    assert settings.data_path(settings.web.tls_cert) == tmp_path.resolve() / "c.pem"
    assert settings.data_path("/etc/revisor/c.pem") == Path("/etc/revisor/c.pem")


def test_serve_says_when_it_speaks_plain_http_or_the_public_url_does_not_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "data"
    assert init(capsys, d)[0] == 0
    assert granian_tls(config.load(d, environ={})) == {}
    assert "plain HTTP" in capsys.readouterr().err
    assert init(capsys, d, "--self-signed-tls", "--tls-hostname", HOST)[0] == 0
    settings = config.load(d, environ={})
    assert granian_tls(settings) == {
        "ssl_cert": d.resolve() / "tls" / "cert.pem",
        "ssl_key": d.resolve() / "tls" / "key.pem",
    }
    assert capsys.readouterr().err == ""
    http = config.load(d, environ={"REVISOR_SERVER__PUBLIC_URL": "http://revisor:8080"})
    granian_tls(http)
    assert "make it https://" in capsys.readouterr().err
