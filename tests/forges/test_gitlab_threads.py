"""GitLab's conversation side (threads, replies, resolving, award emoji, members, compare)
against the strict fake GitLab, and the fake's own strictness."""

from __future__ import annotations

import httpx
import pytest

from revisor.domain import InlineComment, Thread
from revisor.forges.base import Conversations
from revisor.forges.gitlab.api import GitLabForge
from revisor.text.markers import fingerprint_marker
from tests.fakes import FakeGitLab, modified

P = "group/app"


def _comment(path: str = "a.py", fp: str = "0a0b0c0d") -> InlineComment:
    return InlineComment(path, path, None, 2, f"finding\n\n{fingerprint_marker(fp)}", fp)


def _reviewed(fake: FakeGitLab, lab: GitLabForge) -> tuple[object, Thread]:
    fake.add_merge_request(P, 7, [modified("a.py"), modified("b.py")])
    mr = lab.fetch_merge_request(7)
    lab.post_comments(mr, [_comment()])
    (thread,) = lab.list_threads(mr)
    return mr, thread


def _api(fake: FakeGitLab, verb: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"PRIVATE-TOKEN": fake.token or ""}
    return httpx.request(verb, f"{fake.url}/api/v4{path}", headers=headers, **kwargs)  # type: ignore[arg-type]


def test_the_adapter_is_a_conversations(gitlab_forge: GitLabForge) -> None:
    assert isinstance(gitlab_forge, Conversations)
    assert gitlab_forge.bot_name() == "revisor-bot"


def test_threads_show_who_wrote_each_note(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    mr, thread = _reviewed(fake_gitlab, gitlab_forge)
    fake_gitlab.reply_as(P, 7, thread.thread_id, "why is this a bug?", "alice")
    fake_gitlab.add_note(P, 7, "plain comment", author="bob")
    threads = gitlab_forge.list_threads(mr)  # type: ignore[arg-type]
    line, plain = threads
    assert line.started_by_bot
    assert (line.path, line.new_line, line.resolvable, line.resolved) == ("a.py", 2, True, False)
    assert [(n.author, n.by_bot) for n in line.notes] == [("revisor-bot", True), ("alice", False)]
    assert not plain.resolvable
    assert plain.notes[0].author == "bob"


def test_reply_lands_in_the_same_thread(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    mr, thread = _reviewed(fake_gitlab, gitlab_forge)
    gitlab_forge.reply(mr, thread, "Because `x` is never closed.")  # type: ignore[arg-type]
    (discussion,) = fake_gitlab.discussions(P, 7)
    assert [n["author"]["username"] for n in discussion["notes"]] == ["revisor-bot"] * 2
    assert discussion["notes"][1]["body"] == "Because `x` is never closed."


def test_reply_to_a_plain_note_makes_it_a_thread(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 7, [modified("a.py")])
    fake_gitlab.add_note(P, 7, "/revisor ask why?", author="alice")
    mr = gitlab_forge.fetch_merge_request(7)
    (plain,) = gitlab_forge.list_threads(mr)
    gitlab_forge.reply(mr, plain, "an answer")
    (thread,) = gitlab_forge.list_threads(mr)
    assert thread.thread_id == plain.thread_id
    assert [n.body for n in thread.notes] == ["/revisor ask why?", "an answer"]


def test_resolve_marks_every_note(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    mr, thread = _reviewed(fake_gitlab, gitlab_forge)
    assert gitlab_forge.resolve(mr, thread)  # type: ignore[arg-type]
    (again,) = gitlab_forge.list_threads(mr)  # type: ignore[arg-type]
    assert again.resolved


def test_a_plain_note_cannot_be_resolved(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 7, [modified("a.py")])
    fake_gitlab.add_note(P, 7, "just a note")
    mr = gitlab_forge.fetch_merge_request(7)
    (plain,) = gitlab_forge.list_threads(mr)
    assert gitlab_forge.resolve(mr, plain) is False


def test_thumbs_down_lists_who_gave_one(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    mr, thread = _reviewed(fake_gitlab, gitlab_forge)
    note = int(thread.notes[0].note_id)
    fake_gitlab.award(note, "thumbsdown", "alice")
    fake_gitlab.award(note, "thumbsup", "bob")
    assert gitlab_forge.thumbs_down(mr, str(note)) == (("2", "alice"),)  # type: ignore[arg-type]
    assert gitlab_forge.thumbs_down(mr, "999999") == ()  # type: ignore[arg-type]


def test_can_read_needs_reporter_or_more(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 7, [modified("a.py")])
    fake_gitlab.users["guest"] = 50
    fake_gitlab.access_levels["guest"] = 10
    assert gitlab_forge.can_read("2", "alice")
    assert not gitlab_forge.can_read("50", "guest")
    assert not gitlab_forge.can_read("77", "stranger")  # no membership: 404
    assert not gitlab_forge.can_read("", "alice")


def test_changed_paths_since_a_head(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    fake_gitlab.add_merge_request(P, 7, [modified("a.py"), modified("b.py")])
    first = gitlab_forge.fetch_merge_request(7)
    fake_gitlab.push_commit(P, 7, touched=("b.py",))
    fake_gitlab.push_commit(P, 7, touched=("c.py",))
    mr = gitlab_forge.fetch_merge_request(7)
    assert gitlab_forge.changed_paths(mr, first.head_sha) == ("b.py", "c.py")
    assert gitlab_forge.changed_paths(mr, mr.head_sha) == ()
    fake_gitlab.push_commit(P, 7, force=True)
    rewritten = gitlab_forge.fetch_merge_request(7)
    assert gitlab_forge.changed_paths(rewritten, mr.head_sha) is None


# --- the fake refuses what GitLab refuses ------------------------------------------------------


def test_fake_refuses_replies_gitlab_refuses(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    _, thread = _reviewed(fake_gitlab, gitlab_forge)
    base = f"/projects/{P.replace('/', '%2F')}/merge_requests/7/discussions"
    assert _api(fake_gitlab, "POST", f"{base}/{thread.thread_id}/notes", json={}).status_code == 400
    missing = _api(fake_gitlab, "POST", f"{base}/{'f' * 40}/notes", json={"body": "x"})
    assert missing.status_code == 404
    assert "Discussion Not Found" in missing.json()["message"]
    assert _api(fake_gitlab, "PUT", f"{base}/{thread.thread_id}", json={}).status_code == 400
    assert _api(fake_gitlab, "PUT", f"{base}/{'f' * 40}?resolved=true").status_code == 404
    fake_gitlab.revoke_token()
    assert _api(fake_gitlab, "PUT", f"{base}/{thread.thread_id}?resolved=true").status_code == 401


def test_fake_refuses_awards_gitlab_refuses(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    _, thread = _reviewed(fake_gitlab, gitlab_forge)
    awards = f"/projects/{P.replace('/', '%2F')}/merge_requests/7/notes/{{}}/award_emoji"
    note = thread.notes[0].note_id
    assert _api(fake_gitlab, "POST", awards.format(note), json={}).status_code == 400
    bad = _api(fake_gitlab, "POST", awards.format(note), json={"name": "no_such_emoji"})
    assert bad.status_code == 404
    assert _api(fake_gitlab, "POST", awards.format(note), json={"name": "eyes"}).status_code == 201
    assert _api(fake_gitlab, "POST", awards.format(note), json={"name": "eyes"}).status_code == 404
    assert _api(fake_gitlab, "GET", awards.format(123456)).status_code == 404


def test_fake_refuses_compare_without_refs(fake_gitlab: FakeGitLab) -> None:
    fake_gitlab.add_merge_request(P, 7, [modified("a.py")])
    compare = f"/projects/{P.replace('/', '%2F')}/repository/compare"
    assert _api(fake_gitlab, "GET", compare).status_code == 400
    assert (
        _api(fake_gitlab, "GET", compare, params={"from": "a" * 40, "to": "b" * 40}).status_code
        == 404
    )


@pytest.mark.parametrize("uid", ["77"])
def test_fake_member_of_nobody_is_404(fake_gitlab: FakeGitLab, uid: str) -> None:
    fake_gitlab.add_merge_request(P, 7, [modified("a.py")])
    answer = _api(fake_gitlab, "GET", f"/projects/{P.replace('/', '%2F')}/members/all/{uid}")
    assert answer.status_code == 404
