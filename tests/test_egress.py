"""Egress lock: the allowlist comes from the configuration; everything else is refused and audited.

Real loopback servers play the Git server, the host it redirects to, and a model endpoint.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from revisor.audit import AuditLog, Event
from revisor.config import EgressSettings, EndpointSettings, LdapSettings, ModelSettings, Settings
from revisor.egress import Egress, allowlist_from, audit_refusals
from revisor.errors import AuditWriteError, ConfigError, EgressDenied


@dataclass
class Server:
    url: str
    hits: list[str]


def serve(host: str, redirect_to: str | None = None) -> Iterator[Server]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            if redirect_to is not None:
                self.send_response(302)
                self.send_header("Location", redirect_to + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    try:
        httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
    except OSError as exc:
        pytest.skip(f"cannot bind {host}: {exc}")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Server(f"http://{host}:{httpd.server_address[1]}", hits)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path / "audit.db")
    yield log
    log.close()


@pytest.fixture(params=["127.0.0.2", "127.0.0.1"])
def elsewhere(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A host that is not on the allowlist: another loopback address, or another port."""
    yield from serve(request.param)


@pytest.fixture
def model_server() -> Iterator[Server]:
    yield from serve("127.0.0.1")


def refusals(audit: AuditLog) -> list[dict[str, object]]:
    return [r for r in audit.records() if r["event"] == Event.EGRESS_REFUSED.value]


def test_git_server_redirect_to_other_host_is_refused(
    tmp_path: Path, audit: AuditLog, elsewhere: Server
) -> None:
    gen = serve("127.0.0.1", redirect_to=elsewhere.url)
    git = next(gen)
    try:
        egress = allowlist_from(
            Settings(data_dir=tmp_path),
            [git.url],
            on_refusal=audit_refusals(audit, "system:worker"),
        )
        with egress.client(git.url, purpose="forge:gitlab") as client:
            assert client.get("/api/v4/version").status_code == 302  # never followed silently
            with pytest.raises(EgressDenied, match="not on the egress allowlist"):
                client.get("/api/v4/version", follow_redirects=True)
    finally:
        gen.close()
    assert git.hits == ["/api/v4/version", "/api/v4/version"]
    assert elsewhere.hits == []  # the other host was never contacted
    (event,) = refusals(audit)
    assert event["target"] == f"host:{elsewhere.url.removeprefix('http://')}"
    assert event["outcome"] == "denied"
    assert event["details"] == {"purpose": "forge:gitlab"}


def test_model_endpoint_outside_the_allowlist_is_refused(
    tmp_path: Path, audit: AuditLog, model_server: Server
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        model=ModelSettings(
            endpoints=(EndpointSettings(id="gpu1", url="https://gpu1.internal/v1"),)
        ),
    )
    egress = allowlist_from(settings, [], on_refusal=audit_refusals(audit, "system:worker"))
    with pytest.raises(EgressDenied, match=r"\(model:rogue\)"):
        egress.client(model_server.url + "/v1", purpose="model:rogue")
    assert model_server.hits == []
    assert [e["target"] for e in refusals(audit)] == [
        f"host:{model_server.url.removeprefix('http://')}"
    ]
    # The same endpoint, once configured, is reachable.
    allowed = allowlist_from(settings, [], [model_server.url + "/v1"])
    with allowed.client(model_server.url + "/v1", purpose="model:gpu2") as client:
        assert client.get("/models").json() == {"ok": True}


def test_allowlist_is_derived_from_configuration(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Repo:
        server: str

    settings = Settings(
        data_dir=tmp_path,
        ldap=LdapSettings(enabled=True, servers=("ldaps://ldap1.internal", "ldap://ldap2:389")),
        model=ModelSettings(
            sidecar_port=8099,
            endpoints=(EndpointSettings(id="g", url="https://gpu.internal:8000/v1"),),
        ),
        egress=EgressSettings(allow=("ntp-proxy.internal:8443", "https://mirror.internal")),
    )
    egress = allowlist_from(
        settings,
        [Repo("https://git.internal"), "http://gitea.internal:3000"],
        ["http://vllm:8001/v1"],
    )
    assert egress.allowed == {
        ("git.internal", 443),
        ("gitea.internal", 3000),
        ("ldap1.internal", 636),
        ("ldap2", 389),
        ("gpu.internal", 8000),
        ("vllm", 8001),
        ("127.0.0.1", 8099),
        ("ntp-proxy.internal", 8443),
        ("mirror.internal", 443),
    }
    disabled = Settings(data_dir=tmp_path, ldap=LdapSettings(servers=("ldaps://ldap1.internal",)))
    assert ("ldap1.internal", 636) not in allowlist_from(disabled, []).allowed


def test_same_host_other_port_is_refused(tmp_path: Path) -> None:
    egress = allowlist_from(Settings(data_dir=tmp_path), ["https://git.internal"])
    egress.check("https://git.internal/api/v4/projects")
    with pytest.raises(EgressDenied):
        egress.check("https://git.internal:8443/api/v4/projects")
    with pytest.raises(EgressDenied):
        egress.check("https://GIT.internal.evil.example/")
    with pytest.raises(EgressDenied):
        egress.check("file:///etc/passwd")


def test_bad_allow_entry_is_a_config_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, egress=EgressSettings(allow=("ftp://x",)))
    with pytest.raises(ConfigError, match=r"\[egress\] allow"):
        allowlist_from(settings, [])


def test_refusal_is_still_refused_when_the_audit_write_fails(
    audit: AuditLog, model_server: Server
) -> None:
    audit.db.conn.execute("PRAGMA query_only = ON")
    egress = Egress.from_urls([], on_refusal=audit_refusals(audit, "system:worker"))
    with pytest.raises(AuditWriteError):
        egress.client(model_server.url, purpose="model")
    assert model_server.hits == []


def test_client_ignores_proxy_environment(
    monkeypatch: pytest.MonkeyPatch, model_server: Server
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    egress = Egress.from_urls([model_server.url])
    with egress.client(model_server.url, purpose="model") as client:
        assert isinstance(client, httpx.Client)
        assert client.get("/x").status_code == 200
    assert model_server.hits == ["/x"]


NFT_POLICY = Path(__file__).resolve().parents[1] / "appliance" / "nftables.conf"


def test_nftables_policy_drops_by_default_and_names_the_sets() -> None:
    text = NFT_POLICY.read_text()
    assert "type filter hook output priority filter; policy drop;" in text
    for name in ("git_servers", "ldap_servers", "model_hosts", "dns_servers"):
        assert f"set {name} {{" in text
        assert f"@{name}" in text
    assert 'oifname "lo" accept' in text


@pytest.mark.skipif(shutil.which("nft") is None, reason="nftables (nft) is not installed")
def test_nftables_policy_parses() -> None:
    result = subprocess.run(
        ["nft", "-c", "-f", str(NFT_POLICY)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN here")
    assert result.returncode == 0, result.stderr
