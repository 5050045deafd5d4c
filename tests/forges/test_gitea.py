"""Gitea/Forgejo adapter against the strict fake Gitea (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import pytest

from revisor.domain import FileStatus, ForgeKind, InlineComment, StatusState
from revisor.egress import Egress
from revisor.errors import EgressDenied, ForgeError, ForgeUnavailable
from revisor.forges import open_forge
from revisor.forges.gitea.api import GiteaForge
from revisor.text.markers import SUMMARY_MARKER, fingerprint_marker
from tests.fakes import FakeFile, FakeGitea, modified

from .conftest import FAST, make_repo

R = "owner/app"

NEW = FakeFile("new.py", "@@ -0,0 +1,2 @@\n+a = 1\n+b = 2\n", new_file=True)
GONE = FakeFile("gone.py", "@@ -1,2 +0,0 @@\n-a = 1\n-b = 2\n", deleted_file=True)
MOVED = FakeFile(
    "pkg/new_name.py",
    "@@ -3,3 +3,3 @@ def f():\n     x = 1\n-    y = 2\n+    y = 3\n     z = 4\n",
    old_path="pkg/old_name.py",
    renamed_file=True,
)
BLOB = FakeFile("logo.png", binary=True, new_file=True)


def comment(path: str, old: int | None, new: int | None, fp: str = "0a0b0c0d") -> InlineComment:
    return InlineComment(path, path, old, new, f"finding\n\n{fingerprint_marker(fp)}", fp)


def test_fetch_pull_request(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    pr = fake_gitea.add_pull_request(R, 3, [modified("a.py")], title="WIP: thing", labels=["bug"])
    mr = gitea_forge.fetch_merge_request(3)
    assert mr.ref.forge is ForgeKind.GITEA
    assert mr.ref.number == 3
    assert mr.head_sha == pr.head_sha
    assert mr.base_sha == pr.merge_base
    assert mr.draft
    assert mr.labels == ("bug",)
    assert mr.author == "alice"


def test_list_changes(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    fake_gitea.add_pull_request(R, 4, [modified("a.py"), NEW, GONE, MOVED, BLOB])
    mr = gitea_forge.fetch_merge_request(4)
    files = {f.new_path: f for f in gitea_forge.list_changes(mr)}
    assert files["a.py"].status is FileStatus.MODIFIED
    assert len(files["a.py"].lines()) == 4
    assert files["new.py"].status is FileStatus.ADDED
    assert files["gone.py"].status is FileStatus.DELETED
    assert files["pkg/new_name.py"].old_path == "pkg/old_name.py"
    assert files["pkg/new_name.py"].status is FileStatus.RENAMED
    assert files["logo.png"].binary


def test_one_review_with_every_line_kind(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    fake_gitea.add_pull_request(R, 5, [modified("a.py"), NEW, GONE, MOVED])
    mr = gitea_forge.fetch_merge_request(5)
    wanted = [
        comment("a.py", None, 2, "c0000001"),  # added
        comment("a.py", 2, None, "c0000002"),  # removed
        comment("a.py", 3, 3, "c0000003"),  # context
        comment("new.py", None, 1, "c0000004"),
        comment("gone.py", 2, None, "c0000005"),
        comment("pkg/new_name.py", None, 4, "c0000006"),
    ]
    result = gitea_forge.post_comments(mr, wanted)
    assert result.posted == tuple(wanted)
    assert result.rejected == ()
    (review,) = fake_gitea.reviews(R, 5)
    assert review["state"] == "COMMENT"
    assert review["commit_id"] == mr.head_sha
    assert [(c["path"], c["original_position"], c["position"]) for c in review["comments"]] == [
        ("a.py", 0, 2),
        ("a.py", 2, 0),
        ("a.py", 0, 3),  # context lines are anchored on the new side
        ("new.py", 0, 1),
        ("gone.py", 2, 0),
        ("pkg/new_name.py", 0, 4),
    ]


def test_lines_outside_the_diff_are_rejected_not_posted(
    fake_gitea: FakeGitea, gitea_forge: GiteaForge
) -> None:
    fake_gitea.add_pull_request(R, 6, [modified("a.py")])
    mr = gitea_forge.fetch_merge_request(6)
    good = comment("a.py", None, 2)
    outside, elsewhere = comment("a.py", None, 99), comment("other.py", None, 1)
    result = gitea_forge.post_comments(mr, [outside, good, elsewhere])
    assert result.posted == (good,)
    assert [r.comment for r in result.rejected] == [outside, elsewhere]
    assert len(fake_gitea.reviews(R, 6)) == 1
    assert fake_gitea.rejected == []


def test_refused_batch_falls_back_to_one_review_per_comment(
    fake_gitea: FakeGitea, gitea_forge: GiteaForge
) -> None:
    fake_gitea.add_pull_request(R, 7, [modified("a.py")])
    mr = gitea_forge.fetch_merge_request(7)
    fake_gitea.inject(422, times=2, path_contains="/reviews")  # the batch and the first single
    first, second = comment("a.py", None, 2, "d0000001"), comment("a.py", 2, None, "d0000002")
    result = gitea_forge.post_comments(mr, [first, second])
    assert result.posted == (second,)
    assert [r.comment for r in result.rejected] == [first]
    assert len(fake_gitea.reviews(R, 7)) == 1


def test_summary_and_fingerprints(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    fake_gitea.add_pull_request(R, 8, [modified("a.py")])
    fake_gitea.add_comment(R, 8, f"copy of {SUMMARY_MARKER}", author="alice")
    mr = gitea_forge.fetch_merge_request(8)
    gitea_forge.post_comments(mr, [comment("a.py", None, 2, "e0000001")])
    gitea_forge.upsert_summary(mr, f"one {SUMMARY_MARKER}")
    gitea_forge.upsert_summary(mr, f"two {SUMMARY_MARKER}")
    bodies = [(c["user"]["login"], c["body"]) for c in fake_gitea.comments(R, 8)]
    assert bodies == [
        ("alice", f"copy of {SUMMARY_MARKER}"),
        ("revisor-bot", f"two {SUMMARY_MARKER}"),
    ]
    existing = gitea_forge.list_bot_comments(mr)
    assert [c.fingerprint for c in existing if not c.is_summary] == ["e0000001"]
    assert [c.is_summary for c in existing].count(True) == 1


def test_bot_reviews_are_read_across_pages(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    fake_gitea.add_pull_request(R, 9, [modified("a.py")])
    mr = gitea_forge.fetch_merge_request(9)
    for i in range(55):
        gitea_forge.post_comments(mr, [comment("a.py", None, 2, f"{i:08x}")])
    fps = {c.fingerprint for c in gitea_forge.list_bot_comments(mr)}
    assert fps == {f"{i:08x}" for i in range(55)}
    assert fake_gitea.count("GET", "/pulls/9/reviews") >= 2


def test_read_file(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    fake_gitea.add_file(R, "abc", "src/a b.py", "x = 1\n")
    assert gitea_forge.read_file("src/a b.py", "abc") == "x = 1\n"
    assert gitea_forge.read_file("src/none.py", "abc") is None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (StatusState.PENDING, "pending"),
        (StatusState.RUNNING, "pending"),
        (StatusState.SUCCESS, "success"),
        (StatusState.FAILED, "failure"),
        (StatusState.ERROR, "error"),
    ],
)
def test_status_states(
    fake_gitea: FakeGitea, gitea_forge: GiteaForge, state: StatusState, expected: str
) -> None:
    fake_gitea.add_pull_request(R, 10, [modified("a.py")])
    mr = gitea_forge.fetch_merge_request(10)
    gitea_forge.set_status(mr, state, "x", "https://revisor.local/jobs/2")
    (status,) = fake_gitea.commit_statuses(mr.head_sha)
    assert (status["status"], status["context"]) == (expected, "revisor")
    assert status["target_url"] == "https://revisor.local/jobs/2"


def test_errors(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    fake_gitea.add_pull_request(R, 11, [modified("a.py")])
    fake_gitea.inject(503, times=2)
    mr = gitea_forge.fetch_merge_request(11)  # retried
    fake_gitea.inject(500, times=FAST.attempts)
    with pytest.raises(ForgeUnavailable):
        gitea_forge.fetch_merge_request(11)
    fake_gitea.inject(429, times=1, retry_after=90)
    with pytest.raises(ForgeUnavailable) as info:
        gitea_forge.set_status(mr, StatusState.PENDING, "x")
    assert info.value.retry_after == 90
    with pytest.raises(ForgeError, match="not found"):
        gitea_forge.fetch_merge_request(999)
    fake_gitea.scopes = {"read:user"}
    with pytest.raises(ForgeError, match="lacks api scope"):
        gitea_forge.upsert_summary(mr, "s")
    fake_gitea.revoke_token()
    with pytest.raises(ForgeError, match="token rejected") as denied:
        gitea_forge.fetch_merge_request(11)
    assert "gitea-test-token" not in str(denied.value)


def test_timeout(fake_gitea: FakeGitea) -> None:
    fake_gitea.add_pull_request(R, 12, [modified("a.py")])
    repo = make_repo(ForgeKind.GITEA, fake_gitea.url, R, token="gitea-test-token")
    forge = GiteaForge(repo, Egress.from_urls([fake_gitea.url]), timeout=0.3, retry=FAST)
    fake_gitea.inject(times=1, hang=3)
    assert forge.fetch_merge_request(12).ref.number == 12
    fake_gitea.inject(times=3, hang=3)
    with pytest.raises(ForgeUnavailable, match="did not answer in time"):
        forge.fetch_merge_request(12)
    forge.close()


def test_redirects_are_not_followed(fake_gitea: FakeGitea, gitea_forge: GiteaForge) -> None:
    other = FakeGitea()
    other.start()
    try:
        fake_gitea.inject(times=1, redirect_to=other.url)
        with pytest.raises(ForgeError, match="redirected"):
            gitea_forge.fetch_merge_request(1)
        assert other.requests == []
    finally:
        other.stop()


def test_open_forge_and_egress(fake_gitea: FakeGitea) -> None:
    fake_gitea.add_pull_request(R, 13, [modified("a.py")])
    repo = make_repo(ForgeKind.GITEA, fake_gitea.url, R, token="gitea-test-token")
    forge = open_forge(repo, Egress.from_urls([fake_gitea.url]))
    assert forge.fetch_merge_request(13).ref.number == 13
    with pytest.raises(EgressDenied):
        open_forge(repo, Egress.from_urls(["https://elsewhere.example"]))
