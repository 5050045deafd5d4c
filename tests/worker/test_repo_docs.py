"""Guidance files come from the target branch, capped, and a forge error skips one file only."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from revisor.domain import ForgeKind
from revisor.egress import Egress
from revisor.errors import ForgeError
from revisor.forges.base import ForgeTarget, RetryPolicy
from revisor.forges.gitea.api import GiteaForge
from revisor.forges.gitlab.api import GitLabForge
from revisor.review.guidance import RepoDocs
from revisor.worker.repo_docs import MAX_DOC_BYTES, read_repo_docs
from tests.fakes import FakeGitea, FakeGitLab
from tests.worker.fakes import HEAD, InMemoryForge

FAST = RetryPolicy(attempts=2, backoff=0.01, max_wait=1.0)
SECRET_BODY = b'{"message": "do-not-log-this-body"}'


def test_reads_the_guidance_files_present_at_the_ref_in_order() -> None:
    forge = InMemoryForge(patches={})
    forge.files[("docs/CONTRIBUTING.md", "main")] = "docs rules"
    forge.files[("AGENTS.md", "main")] = "agent rules"
    forge.files[("CONTRIBUTING.md", "main")] = "   \n"  # empty: absent
    forge.files[(".github/CONTRIBUTING.md", HEAD)] = "written by the MR author"
    assert read_repo_docs(forge, "main") == RepoDocs(
        (("AGENTS.md", "agent rules"), ("docs/CONTRIBUTING.md", "docs rules"))
    )


def test_each_file_is_capped_at_16_kb_on_a_character_boundary() -> None:
    forge = InMemoryForge(patches={})
    forge.files[("AGENTS.md", "main")] = "é" * MAX_DOC_BYTES  # two bytes each
    forge.files[("CONTRIBUTING.md", "main")] = "x" * MAX_DOC_BYTES
    docs = dict(read_repo_docs(forge, "main").files)
    assert docs["AGENTS.md"] == "é" * (MAX_DOC_BYTES // 2)
    assert docs["CONTRIBUTING.md"] == "x" * MAX_DOC_BYTES


def test_a_forge_error_skips_that_file_and_logs_no_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    forge = InMemoryForge(patches={})
    forge.files[("AGENTS.md", "main")] = "agent rules"
    forge.files[("CONTRIBUTING.md", "main")] = "contributing"
    forge.fail_read["AGENTS.md"] = ForgeError("read AGENTS.md: do-not-log-this-body")
    with caplog.at_level(logging.INFO, logger="revisor.worker.repo_docs"):
        docs = read_repo_docs(forge, "main")
    assert docs == RepoDocs((("CONTRIBUTING.md", "contributing"),))
    assert "guidance file AGENTS.md skipped: ForgeError" in caplog.text
    assert "do-not-log-this-body" not in caplog.text


@pytest.fixture
def gitlab() -> Iterator[tuple[FakeGitLab, GitLabForge]]:
    fake = FakeGitLab(token="glpat-docs")
    fake.start()
    target = ForgeTarget(ForgeKind.GITLAB, fake.url, "group/app", "glpat-docs", None)
    yield fake, GitLabForge(target, Egress.from_urls([fake.url]), timeout=2, retry=FAST)
    fake.stop()


@pytest.fixture
def gitea() -> Iterator[tuple[FakeGitea, GiteaForge]]:
    fake = FakeGitea(token="gitea-docs")
    fake.start()
    target = ForgeTarget(ForgeKind.GITEA, fake.url, "owner/app", "gitea-docs", None)
    forge = GiteaForge(target, Egress.from_urls([fake.url]), timeout=2, retry=FAST)
    yield fake, forge
    forge.close()
    fake.stop()


def test_gitlab_adapter_reads_nested_paths_and_survives_a_refusal(
    gitlab: tuple[FakeGitLab, GitLabForge], caplog: pytest.LogCaptureFixture
) -> None:
    fake, forge = gitlab
    fake.add_file("group/app", "main", "AGENTS.md", "agent rules")
    fake.add_file("group/app", "main", ".github/CONTRIBUTING.md", "github rules")
    fake.add_file("group/app", "feature", "CONTRIBUTING.md", "from the MR branch")
    fake.inject(403, path_contains="AGENTS.md", body=SECRET_BODY)
    with caplog.at_level(logging.INFO):
        docs = read_repo_docs(forge, "main")
    assert docs == RepoDocs(((".github/CONTRIBUTING.md", "github rules"),))
    assert "guidance file AGENTS.md skipped" in caplog.text
    assert "do-not-log-this-body" not in caplog.text
    assert read_repo_docs(forge, "main").files[0] == ("AGENTS.md", "agent rules")


def test_gitea_adapter_reads_the_files_of_the_ref(gitea: tuple[FakeGitea, GiteaForge]) -> None:
    fake, forge = gitea
    fake.add_file("owner/app", "main", "docs/CONTRIBUTING.md", "docs rules")
    fake.add_file("owner/app", "feature", "AGENTS.md", "from the MR branch")
    assert read_repo_docs(forge, "main") == RepoDocs((("docs/CONTRIBUTING.md", "docs rules"),))
    # Two attempts (FAST) at CONTRIBUTING.md fail: that file is skipped, the next is read.
    fake.inject(500, times=2, path_contains="CONTRIBUTING.md", body=SECRET_BODY)
    assert read_repo_docs(forge, "main") == RepoDocs((("docs/CONTRIBUTING.md", "docs rules"),))
    fake.inject(500, times=4, path_contains="docs/CONTRIBUTING.md", body=SECRET_BODY)
    assert read_repo_docs(forge, "main") == RepoDocs()
