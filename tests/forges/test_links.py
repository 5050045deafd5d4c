"""Links to the Git server come from the registered server and project only, and every part
is checked: text from a merge request cannot turn a link into another one."""

from __future__ import annotations

import pytest

from revisor.domain import ForgeKind
from revisor.forges.links import web_links

SHA = "0123456789abcdef" * 2 + "01234567"


def test_gitlab_and_gitea_layouts() -> None:
    gl = web_links(ForgeKind.GITLAB, "https://git.corp/", "platform/pay ments")
    assert gl is not None
    assert gl.merge_request(17) == "https://git.corp/platform/pay%20ments/-/merge_requests/17"
    assert gl.commit(SHA) == f"https://git.corp/platform/pay%20ments/-/commit/{SHA}"
    assert gl.file_at(SHA, "src/a b.py", 88) == (
        f"https://git.corp/platform/pay%20ments/-/blob/{SHA}/src/a%20b.py#L88"
    )
    gt = web_links(ForgeKind.GITEA, "http://gitea.lan:3000", "owner/repo")
    assert gt is not None
    assert gt.merge_request(3) == "http://gitea.lan:3000/owner/repo/pulls/3"
    assert (
        gt.file_at(SHA, "x.go", None) == f"http://gitea.lan:3000/owner/repo/src/commit/{SHA}/x.go"
    )
    assert gt.branch("feature/x") == "http://gitea.lan:3000/owner/repo/src/branch/feature/x"


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("commit", ("not-a-sha",)),
        ("commit", ("abc",)),
        ("file_at", (SHA, "../../other/project/secret", 1)),
        ("file_at", (SHA, "a/./b", 1)),
        ("file_at", ("zzzzzzz", "a.py", 1)),
        ("merge_request", (0,)),
        ("branch", ("../x",)),
    ],
)
def test_odd_parts_give_no_link(call: str, args: tuple[object, ...]) -> None:
    links = web_links(ForgeKind.GITLAB, "https://git.corp", "g/p")
    assert links is not None
    assert getattr(links, call)(*args) is None


def test_a_line_that_is_not_a_number_is_left_out() -> None:
    links = web_links(ForgeKind.GITLAB, "https://git.corp", "g/p")
    assert links is not None
    assert links.file_at(SHA, "a.py", '88"><script>') == f"https://git.corp/g/p/-/blob/{SHA}/a.py"


@pytest.mark.parametrize(
    ("server", "project"),
    [("javascript:alert(1)", "g/p"), ("https://git.corp", "../x"), ("https://git.corp", "")],
)
def test_no_links_for_an_odd_server_or_project(server: str, project: str) -> None:
    assert web_links(ForgeKind.GITLAB, server, project) is None
