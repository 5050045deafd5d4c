"""The one Git server URL check, and the dashboard's CA-file confinement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from revisor.gitservers import (
    BadCAFile,
    BadServerURL,
    canonical_server_url,
    confined_ca_file,
)

# (URL, a fragment of the message that says what is wrong with it). Shared with the CLI and
# dashboard tests, which check that both front doors refuse every one of them.
BAD_URLS: list[tuple[str, str]] = [
    ("https://gitlab.test/?private_token=x", "query string"),
    ("https://gitlab.test?", "query string"),
    ("https://gitlab.test/#frag", "fragment"),
    ("https://user:pass@gitlab.test", "user-info"),
    ("https://gitlab.test@evil.test", "user-info"),
    ("https://@gitlab.test", "user-info"),
    ("ftp://gitlab.test", "only http:// and https://"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("gopher://127.0.0.1:6379/_INFO", "only http:// and https://"),
    ("javascript:alert(1)", "only http:// and https://"),
    ("gitlab.test", "only http:// and https://"),
    ("https:/gitlab.test", "scheme://host"),
    ("https://gitlab.test/a/../admin", "'..'"),
    ("https://gitlab.test/./x", "'.'"),
    ("https://gitlab.test//x", "empty"),
    ("https://gitlab.test/api%2f..%2fadmin", "percent-encoded"),
    ("https://gitlab.test/%2e%2e", "percent-encoded"),
    ("https://gitlab.test%2f@evil", "user-info"),
    ("https://git%6cab.test", "percent-encoded"),
    ("https://gitlab.test\\@evil.test", "backslash"),
    ("https://gitlab.test/a\\b", "backslash"),
    ("https://gitlab .test", "whitespace"),
    ("https://gitlab.test/\tx", "whitespace"),
    ("https://gitlab.test\r\nHost: evil", "control"),
    ("https://gitlab.test\x00.evil", "control"),
    ("https://gitlab.test\x7f", "control"),
    ("https://gitläb.test", "non-ASCII"),
    ("http://0x7f.1/", "four decimal numbers"),
    ("http://0x7f000001/", "four decimal numbers"),
    ("http://2130706433/", "four decimal numbers"),
    ("http://127.1/", "four decimal numbers"),
    ("http://0177.0.0.1/", "four decimal numbers"),
    ("http://127.0.0.01/", "four decimal numbers"),
    ("http://1.2.3.256/", "four decimal numbers"),
    ("https://[fe80::1%25eth0]/", "zone"),
    ("https://[fe80::1%eth0]/", "zone"),
    ("https://[::ffff:127.0.0.1]/", "embedded"),
    ("https://[::1/", "unterminated"),
    ("https://[nope]/", "not a valid IPv6"),
    ("https://gitlab.test./", "trailing dot"),
    ("https://gitlab.test.:443/", "trailing dot"),
    ("https://169.254.169.254/", "not an address a Git server can have"),
    ("https://0.0.0.0/", "not an address a Git server can have"),
    ("https://[::]/", "not an address a Git server can have"),
    ("https://224.0.0.1/", "not an address a Git server can have"),
    ("https://gitlab.test:0/", "port"),
    ("https://gitlab.test:065/", "port"),
    ("https://gitlab.test:70000/", "port"),
    ("https://gitlab.test:/", "port"),
    ("https://gitlab.test:443:443/", "port"),
    ("https://gitlab.test:-1/", "port"),
    ("https://-gitlab.test/", "host name"),
    ("https://git_lab.test/", "host name"),
    ("https:///x", "host is missing"),
    ("https://gitlab.test/a;b", "path may hold only"),
    ("https://" + "a" * 2100, "longer than"),
    ("", "required"),
]


@pytest.mark.parametrize(("url", "why"), BAD_URLS, ids=[ascii(u)[:40] for u, _ in BAD_URLS])
def test_bad_server_urls_are_refused_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(BadServerURL) as caught:
        canonical_server_url(url)
    message = str(caught.value)
    assert why in message
    assert message.isprintable()  # no control character of the URL comes back in the message


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://GitLab.Example.COM:443/", "https://gitlab.example.com"),
        ("HTTPS://gitlab.test", "https://gitlab.test"),
        ("http://gitlab.test:80", "http://gitlab.test"),
        ("https://gitlab.test:8443/gitlab/", "https://gitlab.test:8443/gitlab"),
        ("  https://gitea.test/sub/path  ", "https://gitea.test/sub/path"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("http://10.1.2.3", "http://10.1.2.3"),
        ("https://[2001:DB8:0:0::1]:8443", "https://[2001:db8::1]:8443"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("https://xn--gitlb-gra.test", "https://xn--gitlb-gra.test"),
    ],
)
def test_good_urls_get_one_canonical_spelling(url: str, canonical: str) -> None:
    assert canonical_server_url(url) == canonical
    assert canonical_server_url(canonical) == canonical


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "ca").mkdir(parents=True)
    (d / "keys").mkdir()
    (d / "keys" / "kek-1.key").write_text("secret")
    (d / "ca" / "gitlab.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    return d


def test_a_ca_file_in_the_ca_directory_is_accepted(data_dir: Path) -> None:
    expected = str((data_dir / "ca" / "gitlab.pem").resolve())
    assert confined_ca_file("gitlab.pem", data_dir) == expected
    assert confined_ca_file(str(data_dir / "ca" / "gitlab.pem"), data_dir) == expected


@pytest.mark.parametrize(
    "name",
    [
        "../keys/kek-1.key",
        "/etc/passwd",
        "{data}/keys/kek-1.key",
        "{data}/ca/../keys/kek-1.key",
        "{data}/ca",
        ".",
        "escape.pem",  # a symbolic link in ca/ that points outside it
        "missing.pem",
        "gitlab.pem\n",
        "",
    ],
)
def test_ca_files_outside_the_ca_directory_are_refused(data_dir: Path, name: str) -> None:
    os.symlink(data_dir / "keys" / "kek-1.key", data_dir / "ca" / "escape.pem")
    with pytest.raises(BadCAFile):
        confined_ca_file(name.replace("{data}", str(data_dir)), data_dir)
