"""Gitea/Forgejo's conversation side (conversations, replies, resolving, reactions,
permissions, compare) against the strict fake Gitea, and the fake's own strictness."""

from __future__ import annotations

import httpx

from revisor.domain import InlineComment, MergeRequest, Thread
from revisor.forges.base import Conversations
from revisor.forges.gitea.api import GiteaForge
from revisor.text.markers import fingerprint_marker
from tests.fakes import FakeFile, FakeGitea, modified

R = "owner/app"


def _comment(path: str = "a.py", fp: str = "0a0b0c0d") -> InlineComment:
    return InlineComment(path, path, None, 2, f"finding\n\n{fingerprint_marker(fp)}", fp)


def _reviewed(fake: FakeGitea, tea: GiteaForge) -> tuple[MergeRequest, Thread]:
    fake.add_pull_request(R, 3, [modified("a.py"), modified("b.py")])
    mr = tea.fetch_merge_request(3)
    tea.post_comments(mr, [_comment()])
    (thread,) = tea.list_threads(mr)
    return mr, thread


def _api(fake: FakeGitea, verb: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"token {fake.token}"}
    return httpx.request(verb, f"{fake.url}/api/v1{path}", headers=headers, **kwargs)  # type: ignore[arg-type]


def test_the_adapter_is_a_conversations(gitea_forge: GiteaForge) -> None:
    assert isinstance(gitea_forge, Conversations)
    assert gitea_forge.bot_name() == "revisor-bot"


def test_comments_on_one_line_make_one_thread(
    fake_gitea: FakeGitea, gitea_forge: GiteaForge
) -> None:
    mr, thread = _reviewed(fake_gitea, gitea_forge)
    fake_gitea.reply_as(R, 3, int(thread.thread_id), "is it?", "alice")
    fake_gitea.add_comment(R, 3, "a plain comment", author="bob")
    line, plain = gitea_forge.list_threads(mr)
    assert line.started_by_bot
    assert (line.path, line.new_line, line.resolvable) == ("a.py", 2, True)
    assert [(n.author, n.body) for n in line.notes][1] == ("alice", "is it?")
    assert plain.thread_id.startswith("comment:")
    assert not plain.resolvable


def test_reply_is_a_review_comment_on_the_same_line(
    fake_gitea: FakeGitea, gitea_forge: GiteaForge
) -> None:
    mr, thread = _reviewed(fake_gitea, gitea_forge)
    gitea_forge.reply(mr, thread, "Because it leaks.")
    conversation = fake_gitea.conversation(R, 3, int(thread.thread_id))
    assert [c["body"] for c in conversation][1] == "Because it leaks."
    (again, *_) = gitea_forge.list_threads(mr)
    assert len(again.notes) == 2


def test_reply_after_the_line_left_the_diff_is_a_plain_comment(
    fake_gitea: FakeGitea, gitea_forge: GiteaForge
) -> None:
    _, thread = _reviewed(fake_gitea, gitea_forge)
    fake_gitea.push_commit(R, 3, [FakeFile("b.py", "@@ -1 +1 @@\n-x\n+y\n")], ("a.py",))
    mr = gitea_forge.fetch_merge_request(3)
    gitea_forge.reply(mr, thread, "Still here?")
    assert [c["body"] for c in fake_gitea.comments(R, 3)] == ["Still here?"]


def test_reply_to_a_plain_comment(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    fake_gitea.add_pull_request(R, 3, [modified("a.py")])
    fake_gitea.add_comment(R, 3, "/revisor ask why", author="alice")
    mr = gitea_forge.fetch_merge_request(3)
    (plain,) = gitea_forge.list_threads(mr)
    gitea_forge.reply(mr, plain, "an answer")
    assert [c["body"] for c in fake_gitea.comments(R, 3)] == ["/revisor ask why", "an answer"]


def test_resolve_on_gitea_and_not_on_forgejo(
    fake_gitea: FakeGitea, gitea_forge: GiteaForge
) -> None:
    mr, thread = _reviewed(fake_gitea, gitea_forge)
    fake_gitea.forgejo = True
    assert gitea_forge.resolve(mr, thread) is False
    fake_gitea.forgejo = False
    assert gitea_forge.resolve(mr, thread) is True
    (again,) = gitea_forge.list_threads(mr)
    assert again.resolved


def test_thumbs_down_reactions(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    mr, thread = _reviewed(fake_gitea, gitea_forge)
    fake_gitea.react(int(thread.thread_id), "-1", "alice")
    fake_gitea.react(int(thread.thread_id), "+1", "bob")
    assert gitea_forge.thumbs_down(mr, thread.thread_id) == (("2", "alice"),)
    assert gitea_forge.thumbs_down(mr, "999999") == ()


def test_can_read_needs_read_permission(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    assert gitea_forge.can_read("", "alice")
    assert not gitea_forge.can_read("", "mallory")  # exists, no access
    assert not gitea_forge.can_read("", "ghost-user")  # 404
    assert not gitea_forge.can_read("", "")


def test_changed_paths_since_a_head(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    fake_gitea.add_pull_request(R, 3, [modified("a.py"), modified("b.py")])
    first = gitea_forge.fetch_merge_request(3)
    fake_gitea.push_commit(R, 3, touched=("b.py",))
    mr = gitea_forge.fetch_merge_request(3)
    assert gitea_forge.changed_paths(mr, first.head_sha) == ("b.py",)
    fake_gitea.push_commit(R, 3, force=True)
    rewritten = gitea_forge.fetch_merge_request(3)
    assert gitea_forge.changed_paths(rewritten, mr.head_sha) is None


# --- the fake refuses what Gitea refuses -------------------------------------------------------


def test_fake_refuses_bad_reactions_and_resolves(
    fake_gitea: FakeGitea, gitea_forge: GiteaForge
) -> None:
    _, thread = _reviewed(fake_gitea, gitea_forge)
    plain = fake_gitea.add_comment(R, 3, "plain")
    base = f"/repos/{R}"
    bad = _api(fake_gitea, "POST", f"{base}/issues/comments/{thread.thread_id}/reactions",
               json={"content": "thumbsdown"})  # fmt: skip
    assert bad.status_code == 403
    assert _api(fake_gitea, "GET", f"{base}/issues/comments/424242/reactions").status_code == 404
    assert (
        _api(fake_gitea, "POST", f"{base}/pulls/comments/{plain['id']}/resolve").status_code == 400
    )
    assert _api(fake_gitea, "POST", f"{base}/pulls/comments/424242/resolve").status_code == 404
    assert _api(fake_gitea, "GET", f"{base}/compare/{'a' * 40}...{'b' * 40}").status_code == 404
    fake_gitea.revoke_token()
    assert _api(fake_gitea, "GET", f"{base}/pulls/3/commits").status_code == 401
