"""Forge answers are size-capped while they are read (both adapters, both HTTP libraries), and a
forge's error body never reaches an error message beyond a short, cleaned JSON reason."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Callable

import pytest

from revisor.domain import ForgeKind
from revisor.egress import MAX_RESPONSE_BYTES, Egress
from revisor.errors import ForgeUnavailable, ResponseTooLarge
from revisor.forges.base import ForgeRefused, reason_from_body
from revisor.forges.gitea.api import GiteaForge
from revisor.forges.gitlab.api import GitLabForge
from tests.fakes import FakeGitea, FakeGitLab
from tests.fakes.server import FakeServer
from tests.forges.conftest import FAST, make_repo

CAP = 256 * 1024
SECRET = "glpat-" + "x" * 20 + "-not-for-logs"

Build = Callable[[FakeServer, Egress], GitLabForge | GiteaForge]


def gitlab(fake: FakeServer, egress: Egress) -> GitLabForge:
    assert isinstance(fake, FakeGitLab)
    fake.add_merge_request("group/app", 7, files=[])
    repo = make_repo(ForgeKind.GITLAB, fake.url, "group/app", token=fake.token or "")
    return GitLabForge(repo, egress, timeout=5, retry=FAST)


def gitea(fake: FakeServer, egress: Egress) -> GiteaForge:
    assert isinstance(fake, FakeGitea)
    fake.add_pull_request("owner/app", 7, files=[])
    repo = make_repo(ForgeKind.GITEA, fake.url, "owner/app", token=fake.token or "")
    return GiteaForge(repo, egress, timeout=5, retry=FAST)


ADAPTERS = [(FakeGitLab, gitlab), (FakeGitea, gitea)]


@pytest.fixture(params=ADAPTERS, ids=["gitlab", "gitea"])
def adapter(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    fake_class, build = request.param
    fake = fake_class()
    fake.start()
    egress = dataclasses.replace(Egress.from_urls([fake.url]), max_response_bytes=CAP)
    yield fake, build(fake, egress)
    fake.stop()


@pytest.mark.parametrize(
    ("body", "headers", "chunked"),
    [
        (b"[" + b" " * (CAP + 10) + b"]", {}, False),  # announced by Content-Length
        (b"[" + b" " * (CAP + 10) + b"]", {}, True),  # found out while reading
        (gzip.compress(b"[" + b" " * (40 * CAP) + b"]"), {"Content-Encoding": "gzip"}, False),
    ],
    ids=["content-length", "chunked", "gzip-bomb"],
)
def test_an_oversize_answer_is_refused_while_reading(
    adapter,
    body: bytes,
    headers: dict[str, str],
    chunked: bool,  # type: ignore[no-untyped-def]
) -> None:
    fake, forge = adapter
    assert len(body) > CAP or headers  # the bomb is small on the wire
    fake.inject(200, times=1, body=body, headers={"Content-Type": "application/json", **headers},
                chunked=chunked)  # fmt: skip
    with pytest.raises(ResponseTooLarge) as caught:
        forge.fetch_merge_request(7)
    assert f"larger than {CAP} bytes" in str(caught.value)
    assert forge.fetch_merge_request(7).ref.number == 7  # the client still works afterwards


def test_the_default_cap_leaves_room_for_a_large_diff() -> None:
    assert Egress(frozenset()).max_response_bytes == MAX_RESPONSE_BYTES == 32 * 1024 * 1024


def test_an_html_error_page_gives_only_the_status(adapter) -> None:  # type: ignore[no-untyped-def]
    fake, forge = adapter
    page = f"<html><body><h1>Oops</h1><pre>token={SECRET}</pre></body></html>".encode()
    fake.inject(503, times=10, body=page, headers={"Content-Type": "text/html"})
    with pytest.raises(ForgeUnavailable) as caught:
        forge.fetch_merge_request(7)
    message = str(caught.value)
    assert "(503)" in message
    assert SECRET not in message
    assert "Oops" not in message
    assert message.endswith("(503)")


def test_a_json_reason_is_cut_and_cleaned(adapter) -> None:  # type: ignore[no-untyped-def]
    fake, forge = adapter
    reason = "branch\nis\x1b[0m protected\u202e " + "y" * 1000
    fake.inject(409, times=1, body=json.dumps({"message": reason}).encode(),
                headers={"Content-Type": "application/json"})  # fmt: skip
    with pytest.raises(ForgeRefused) as caught:
        forge.fetch_merge_request(7)
    message = str(caught.value)
    assert "(409): branch is[0m protected yyy" in message
    assert message.isprintable()
    assert len(message.split("(409): ", 1)[1]) <= 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"message": "404 Project Not Found"}', "404 Project Not Found"),
        (b'{"error": "insufficient_scope"}', "insufficient_scope"),
        (b'{"message": {"base": ["line_code can\'t be blank"]}}', '{"base":["line_code can'),
        (b'{"message": null, "error": "x"}', "x"),
        (b"<html>secret</html>", ""),
        (b"plain text secret", ""),
        (b'["a list"]', ""),
        (b"\xff\xfe not utf-8", ""),
        (b"", ""),
        (b'{"message": "' + b"z" * 70_000 + b'"}', ""),
    ],
)
def test_reason_from_body(body: bytes, reason: str) -> None:
    got = reason_from_body(body)
    assert got.startswith(reason)
    assert len(got) <= 200
