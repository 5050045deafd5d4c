"""GitLab adapter against the strict fake GitLab (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import pytest

from revisor.domain import FileStatus, ForgeKind, InlineComment, LineKind, StatusState
from revisor.egress import Egress
from revisor.errors import EgressDenied, ForgeError, ForgeUnavailable
from revisor.forges import open_forge
from revisor.forges.base import RetryPolicy
from revisor.forges.gitlab.api import GitLabForge
from revisor.text.markers import SUMMARY_MARKER, fingerprint_marker
from tests.fakes import FakeFile, FakeGitLab, modified

from .conftest import FAST, make_repo

P = "group/app"

NEW = FakeFile("new.py", "@@ -0,0 +1,2 @@\n+a = 1\n+b = 2\n", new_file=True)
GONE = FakeFile("gone.py", "@@ -1,2 +0,0 @@\n-a = 1\n-b = 2\n", deleted_file=True)
MOVED = FakeFile(
    "pkg/new_name.py",
    "@@ -3,3 +3,3 @@ def f():\n     x = 1\n-    y = 2\n+    y = 3\n     z = 4\n",
    old_path="pkg/old_name.py",
    renamed_file=True,
)
BLOB = FakeFile("logo.png", binary=True, new_file=True)
HUGE = FakeFile("dump.sql", too_large=True)


def comment(
    path: str, old: int | None, new: int | None, fp: str = "0a0b0c0d", old_path: str = ""
) -> InlineComment:
    body = f"finding at {path}:{old}/{new}\n\n{fingerprint_marker(fp)}"
    return InlineComment(path, old_path or path, old, new, body, fp)


def test_fetch_uses_the_newest_version_shas(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(
        P, 7, [modified("a.py")], title="Draft: thing", draft=True, labels=["backend"], author="bob"
    )
    base, start, head = fake_gitlab.push(P, 7)
    mr = gitlab_forge.fetch_merge_request(7)
    assert (mr.base_sha, mr.start_sha, mr.head_sha) == (base, start, head)
    assert mr.ref.forge is ForgeKind.GITLAB
    assert mr.ref.number == 7
    assert mr.ref.project == P
    assert mr.draft
    assert mr.labels == ("backend",)
    assert mr.author == "bob"
    assert (mr.source_branch, mr.target_branch) == ("feature", "main")


def test_list_changes_flags_every_file_kind(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 1, [modified("a.py"), NEW, GONE, MOVED, BLOB, HUGE])
    mr = gitlab_forge.fetch_merge_request(1)
    files = {f.new_path: f for f in gitlab_forge.list_changes(mr)}
    assert files["a.py"].status is FileStatus.MODIFIED
    assert [(ln.kind, ln.old_line, ln.new_line) for ln in files["a.py"].lines()] == [
        (LineKind.CONTEXT, 1, 1),
        (LineKind.REMOVED, 2, None),
        (LineKind.ADDED, None, 2),
        (LineKind.CONTEXT, 3, 3),
    ]
    assert files["new.py"].status is FileStatus.ADDED
    assert files["gone.py"].status is FileStatus.DELETED
    assert files["gone.py"].path == "gone.py"
    assert files["pkg/new_name.py"].status is FileStatus.RENAMED
    assert files["pkg/new_name.py"].old_path == "pkg/old_name.py"
    assert files["logo.png"].binary
    assert not files["logo.png"].hunks
    assert files["dump.sql"].truncated_by_forge
    assert not files["dump.sql"].binary


def test_list_changes_reads_every_page(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    fake_gitlab.add_merge_request(P, 2, [modified(f"src/f{i:03}.py") for i in range(250)])
    mr = gitlab_forge.fetch_merge_request(2)
    files = gitlab_forge.list_changes(mr)
    assert [f.new_path for f in files] == [f"src/f{i:03}.py" for i in range(250)]
    assert fake_gitlab.count("GET", "/diffs") == 3  # 100 + 100 + 50


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (modified("a.py"), None, 2, {"new_line": 2}),  # added
        (modified("a.py"), 2, None, {"old_line": 2}),  # removed
        (modified("a.py"), 3, 3, {"old_line": 3, "new_line": 3}),  # context
        (NEW, None, 2, {"new_line": 2}),
        (GONE, 1, None, {"old_line": 1}),
        (MOVED, None, 4, {"new_line": 4}),
        (MOVED, 4, None, {"old_line": 4}),
    ],
)
def test_each_line_kind_is_positioned_like_gitlab_wants(
    fake_gitlab: FakeGitLab,
    gitlab_forge: GitLabForge,
    file: FakeFile,
    old: int | None,
    new: int | None,
    expected: dict[str, int],
) -> None:
    fake_gitlab.add_merge_request(P, 3, [file])
    mr = gitlab_forge.fetch_merge_request(3)
    path = file.old if file.deleted_file else file.new_path
    result = gitlab_forge.post_comments(mr, [comment(path, old, new, old_path=file.old)])
    assert result.rejected == ()
    assert len(result.posted) == 1
    (discussion,) = fake_gitlab.discussions(P, 3)
    position = discussion["notes"][0]["position"]
    assert {k: position[k] for k in ("old_line", "new_line") if k in position} == expected
    assert (position["old_path"], position["new_path"]) == (file.old, file.new_path)
    assert (position["base_sha"], position["start_sha"], position["head_sha"]) == (
        mr.base_sha,
        mr.start_sha,
        mr.head_sha,
    )


def test_refused_positions_are_returned_and_the_rest_posted(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 4, [modified("a.py"), modified("b.py")])
    mr = gitlab_forge.fetch_merge_request(4)
    good1, good2 = comment("a.py", None, 2, "aaaa0001"), comment("b.py", 1, 1, "aaaa0003")
    bad_side = comment("a.py", 2, 2, "aaaa0002")  # added line given with an old_line too
    bad_line = comment("b.py", None, 40, "aaaa0004")  # not in the diff
    result = gitlab_forge.post_comments(mr, [good1, bad_side, good2, bad_line])
    assert result.posted == (good1, good2)
    assert [r.comment for r in result.rejected] == [bad_side, bad_line]
    assert all("line_code" in r.reason for r in result.rejected)
    assert len(fake_gitlab.discussions(P, 4)) == 2


def test_positions_with_stale_shas_are_refused(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 5, [modified("a.py")])
    mr = gitlab_forge.fetch_merge_request(5)
    fake_gitlab.push(P, 5)  # a new version arrives while we review
    result = gitlab_forge.post_comments(mr, [comment("a.py", None, 2)])
    assert result.posted == ()
    assert len(result.rejected) == 1
    assert fake_gitlab.discussions(P, 5) == []


def test_summary_is_a_plain_note_edited_in_place(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 6, [modified("a.py")])
    fake_gitlab.add_note(P, 6, f"quoting the bot: {SUMMARY_MARKER}", author="alice")
    mr = gitlab_forge.fetch_merge_request(6)
    gitlab_forge.upsert_summary(mr, f"first run {SUMMARY_MARKER}")
    gitlab_forge.upsert_summary(mr, f"second run {SUMMARY_MARKER}")
    notes = fake_gitlab.notes(P, 6)
    ours = [n for n in notes if n["author"]["username"] == "revisor-bot"]
    assert len(ours) == 1
    assert ours[0]["body"].startswith("second run")
    assert ours[0]["type"] is None
    assert ours[0]["resolvable"] is False
    assert notes[0]["body"].startswith("quoting the bot")  # someone else's note untouched
    assert fake_gitlab.discussions(P, 6) == []


def test_bot_comments_carry_fingerprints_for_dedup(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 8, [modified("a.py")])
    fake_gitlab.add_note(P, 8, f"human {fingerprint_marker('ffff0000')}", author="alice")
    mr = gitlab_forge.fetch_merge_request(8)
    first = [comment("a.py", None, 2, "abcd0001"), comment("a.py", 2, None, "abcd0002")]
    gitlab_forge.post_comments(mr, first)
    gitlab_forge.upsert_summary(mr, "summary")
    existing = gitlab_forge.list_bot_comments(mr)
    assert {c.fingerprint for c in existing if not c.is_summary} == {"abcd0001", "abcd0002"}
    assert [c.is_summary for c in existing].count(True) == 1
    # A re-run that skips known fingerprints posts nothing twice.
    known = {c.fingerprint for c in existing}
    again = [c for c in first if c.fingerprint not in known]
    assert gitlab_forge.post_comments(mr, again).posted == ()
    assert len(fake_gitlab.discussions(P, 8)) == 2


def test_read_file(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    fake_gitlab.add_file(P, "abc123", "src/dir/a.py", "print('hi')\n")
    assert gitlab_forge.read_file("src/dir/a.py", "abc123") == "print('hi')\n"
    assert gitlab_forge.read_file("src/dir/missing.py", "abc123") is None


def test_commit_status_lifecycle(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    fake_gitlab.add_merge_request(P, 9, [modified("a.py")])
    mr = gitlab_forge.fetch_merge_request(9)
    gitlab_forge.set_status(mr, StatusState.PENDING, "queued", "https://revisor.local/jobs/1")
    gitlab_forge.set_status(mr, StatusState.RUNNING, "reviewing")
    gitlab_forge.set_status(mr, StatusState.RUNNING, "still reviewing")  # GitLab 400s; ignored
    gitlab_forge.set_status(mr, StatusState.ERROR, "model unavailable")
    statuses = fake_gitlab.commit_statuses(mr.head_sha)
    assert [s["state"] for s in statuses] == ["pending", "running", "failed"]
    assert {s["name"] for s in statuses} == {"revisor"}
    assert statuses[0]["target_url"] == "https://revisor.local/jobs/1"


# --- errors and retries -----------------------------------------------------------------------


def test_transient_500_is_retried(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    fake_gitlab.add_merge_request(P, 10, [modified("a.py")])
    fake_gitlab.inject(500, times=2)
    assert gitlab_forge.fetch_merge_request(10).ref.number == 10


def test_persistent_500_is_retryable(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    fake_gitlab.add_merge_request(P, 10, [modified("a.py")])
    fake_gitlab.inject(502, times=10)
    with pytest.raises(ForgeUnavailable):
        gitlab_forge.fetch_merge_request(10)
    assert fake_gitlab.count("GET", "/merge_requests/10") == FAST.attempts


def test_a_post_that_may_have_landed_is_not_repeated(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 10, [modified("a.py")])
    mr = gitlab_forge.fetch_merge_request(10)
    fake_gitlab.inject(500, times=1, path_contains="/discussions")
    with pytest.raises(ForgeUnavailable):
        gitlab_forge.post_comments(mr, [comment("a.py", None, 2)])
    assert fake_gitlab.count("POST", "/discussions") == 1


def test_rate_limit_with_long_retry_after_goes_back_to_the_queue(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 11, [modified("a.py")])
    fake_gitlab.inject(429, times=1, retry_after=120)
    with pytest.raises(ForgeUnavailable) as info:
        gitlab_forge.fetch_merge_request(11)
    assert info.value.retry_after == 120
    assert fake_gitlab.count("GET", "/merge_requests/11") == 1  # did not sleep 120 s inline


def test_rate_limit_with_short_retry_after_is_waited_out(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 11, [modified("a.py")])
    mr = gitlab_forge.fetch_merge_request(11)
    fake_gitlab.inject(429, times=1, retry_after=0, path_contains="/discussions")
    assert len(gitlab_forge.post_comments(mr, [comment("a.py", None, 2)]).posted) == 1
    assert len(fake_gitlab.discussions(P, 11)) == 1


def test_timeouts(fake_gitlab: FakeGitLab) -> None:
    fake_gitlab.add_merge_request(P, 12, [modified("a.py")])
    repo = make_repo(ForgeKind.GITLAB, fake_gitlab.url, P, token="glpat-test-token")
    forge = GitLabForge(repo, Egress.from_urls([fake_gitlab.url]), timeout=0.3, retry=FAST)
    fake_gitlab.inject(times=1, hang=3)
    assert forge.fetch_merge_request(12).ref.number == 12  # one slow answer: retried
    fake_gitlab.inject(times=3, hang=3)
    with pytest.raises(ForgeUnavailable, match="did not answer in time"):
        forge.fetch_merge_request(12)


def test_revoked_token(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    fake_gitlab.add_merge_request(P, 13, [modified("a.py")])
    fake_gitlab.revoke_token()
    with pytest.raises(ForgeError, match="token rejected") as info:
        gitlab_forge.fetch_merge_request(13)
    assert not isinstance(info.value, ForgeUnavailable)
    assert "glpat-test-token" not in str(info.value)


def test_read_only_token(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    fake_gitlab.add_merge_request(P, 14, [modified("a.py")])
    mr = gitlab_forge.fetch_merge_request(14)
    fake_gitlab.scopes = {"read_api"}
    with pytest.raises(ForgeError, match="lacks api scope"):
        gitlab_forge.upsert_summary(mr, "summary")


def test_unknown_merge_request(fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge) -> None:
    with pytest.raises(ForgeError, match="not found"):
        gitlab_forge.fetch_merge_request(404)


def test_redirect_to_another_host_is_refused(fake_gitlab: FakeGitLab) -> None:
    other = FakeGitLab()
    other.start()
    try:
        other.add_merge_request(P, 15, [modified("a.py")])
        # Even a host on the egress allowlist is refused: the token is for this server only.
        for allowed in ([fake_gitlab.url], [fake_gitlab.url, other.url]):
            repo = make_repo(ForgeKind.GITLAB, fake_gitlab.url, P, token="glpat-test-token")
            forge = GitLabForge(repo, Egress.from_urls(allowed), retry=FAST)
            fake_gitlab.inject(times=1, redirect_to=other.url)
            with pytest.raises(EgressDenied):
                forge.fetch_merge_request(15)
        assert other.requests == []
    finally:
        other.stop()


def test_server_not_on_the_allowlist_is_refused(fake_gitlab: FakeGitLab) -> None:
    repo = make_repo(ForgeKind.GITLAB, fake_gitlab.url, P, token="t")
    with pytest.raises(EgressDenied):
        open_forge(repo, Egress.from_urls(["https://elsewhere.example"]))
    assert fake_gitlab.requests == []


def test_open_forge_builds_a_working_gitlab_adapter(fake_gitlab: FakeGitLab) -> None:
    fake_gitlab.add_merge_request(P, 16, [modified("a.py")])
    repo = make_repo(ForgeKind.GITLAB, fake_gitlab.url, P, token="glpat-test-token")
    forge = open_forge(
        repo,
        Egress.from_urls([fake_gitlab.url]),
        retry=RetryPolicy(attempts=1),
    )
    assert forge.fetch_merge_request(16).title == "Add feature"


def test_bot_notes_are_read_across_pages(
    fake_gitlab: FakeGitLab, gitlab_forge: GitLabForge
) -> None:
    fake_gitlab.add_merge_request(P, 17, [modified("a.py")])
    for i in range(130):
        fake_gitlab.add_note(P, 17, f"old finding {fingerprint_marker(f'{i:08x}')}", "revisor-bot")
    mr = gitlab_forge.fetch_merge_request(17)
    fps = {c.fingerprint for c in gitlab_forge.list_bot_comments(mr)}
    assert fps == {f"{i:08x}" for i in range(130)}
    assert fake_gitlab.count("GET", "/merge_requests/17/notes") == 2
