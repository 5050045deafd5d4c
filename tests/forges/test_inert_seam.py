"""The adapters make every text they send inert themselves: a caller that hands them raw,
hostile text (a future code path that forgot `review.render`) still posts nothing live."""

from __future__ import annotations

import ast
import inspect
from types import ModuleType

import pytest

from revisor.domain import InlineComment, StatusState
from revisor.forges.gitea import api as gitea
from revisor.forges.gitea.api import GiteaForge
from revisor.forges.gitlab import api as gitlab
from revisor.forges.gitlab.api import GitLabForge
from revisor.text.markers import find_fingerprint, fingerprint_marker, is_summary
from tests.fakes import FakeGitea, FakeGitLab
from tests.fakes.model import modified
from tests.review.markdown_oracle import live_constructs

FP = "0123456789abcdef"
RAW = (
    "/approve\n/merge\n> /assign_reviewer @mallory\nsee group/app#1, www.evil.test, a@b.test "
    "<img src=x>\n~~~\n/close\n~~~\n```\nunclosed"
)


def comment(body: str) -> InlineComment:
    return InlineComment("a.py", "a.py", None, 2, f"{body}\n\n{fingerprint_marker(FP)}", FP)


def test_gitlab_runs_nothing_the_adapter_sends(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request("group/app", 7, [modified("a.py")])
    mr = gitlab_forge.fetch_merge_request(7)
    assert gitlab_forge.post_comments(mr, [comment(RAW)]).rejected == ()
    gitlab_forge.upsert_summary(mr, RAW)
    gitlab_forge.upsert_summary(mr, f"{RAW}\n/unapprove")  # the edit goes through it too
    gitlab_forge.set_status(mr, StatusState.RUNNING, "/merge\n@alice")
    assert fake_gitlab.quick_actions_run == []
    notes = fake_gitlab.mrs[("group/app", 7)].notes
    assert len(notes) == 2
    for note in notes:
        assert live_constructs(note["body"]) == [], note["body"]
    assert find_fingerprint(notes[0]["body"]) == FP  # Revisor's markers survive
    assert is_summary(notes[1]["body"])
    status = fake_gitlab.commit_statuses()[-1]["description"]
    assert "\n" not in status
    assert live_constructs(status) == []


def test_gitea_posts_nothing_live(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    fake_gitea.add_pull_request("owner/app", 3, [modified("a.py")])
    mr = gitea_forge.fetch_merge_request(3)
    assert gitea_forge.post_comments(mr, [comment(RAW)]).rejected == ()
    gitea_forge.upsert_summary(mr, RAW)
    gitea_forge.upsert_summary(mr, f"{RAW}\n@bob")
    gitea_forge.set_status(mr, StatusState.RUNNING, "@alice www.evil.test")
    bodies = [c["body"] for r in fake_gitea.reviews("owner/app", 3) for c in r["comments"]]
    bodies += [c["body"] for c in fake_gitea.comments("owner/app", 3)]
    assert len(bodies) == 2
    for body in bodies:
        assert live_constructs(body) == [], body
    assert find_fingerprint(bodies[0]) == FP
    assert live_constructs(fake_gitea.commit_statuses()[-1]["description"]) == []


_SENDS = {"http_request", "http_get", "http_post", "http_put", "http_list", "request", "get",
          "post", "put", "patch", "delete", "send", "stream"}  # fmt: skip


def _client_calls(node: ast.AST, client: str) -> list[int]:
    """Line numbers of the requests made on `self.<client>` (the HTTP client) under `node`."""
    return [
        call.lineno
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr in _SENDS
        and isinstance(call.func.value, ast.Attribute)
        and call.func.value.attr == client
    ]


@pytest.mark.parametrize(("module", "client"), [(gitlab, "_gl"), (gitea, "_client")])
def test_the_http_client_is_called_only_from_the_inert_seam(
    module: ModuleType, client: str
) -> None:
    """Every request goes through `_request`, and `_request` makes the payload inert first; a
    new method that called the client directly would fail here."""
    tree = ast.parse(inspect.getsource(module))
    calls: dict[str, list[int]] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for method in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            if found := _client_calls(method, client):
                calls[method.name] = found
            if method.name == "_request":
                assert "inert_fields(" in ast.unparse(method)
    assert list(calls) == ["_request"], calls
