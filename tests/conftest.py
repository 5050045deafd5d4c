from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from revisor import config
from revisor.cli.core import init_data_dir
from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.store import repos

GITLAB_SECRET = "gl-webhook-secret-0123456789"
GITEA_SECRET = "gitea-webhook-secret-0123456789"
SIGNING_SECRET = "whsec_c2lnbmluZy1zZWNyZXQtZm9yLXRlc3RzLTEyMzQ1Ng=="
TOKEN = "glpat-test-token-abcdefghij"


@dataclass
class DataDir:
    settings: config.Settings
    rt: Context
    gitlab: repos.Repo
    gitea: repos.Repo
    signed: repos.Repo


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[DataDir]:
    """An initialised data dir with a GitLab, a Gitea and a signed-GitLab repository."""
    settings = config.load(tmp_path / "data", environ={})
    init_data_dir(settings)
    rt = Context(settings)
    gl = repos.add(
        rt.db,
        rt.keys,
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="group/app",
        token=TOKEN,
        webhook_secret=GITLAB_SECRET,
    )
    gt = repos.add(
        rt.db,
        rt.keys,
        forge=ForgeKind.GITEA,
        server="https://gitea.test",
        project="owner/app",
        token=TOKEN,
        webhook_secret=GITEA_SECRET,
    )
    signed = repos.add(
        rt.db,
        rt.keys,
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="group/signed",
        token=TOKEN,
        webhook_secret="unused-plain-secret-123",
        signing_secret=SIGNING_SECRET,
    )
    yield DataDir(settings, rt, gl, gt, signed)
    rt.close()


# The whole-appliance fixture (data dir + strict fake GitLab + fake model) for tests anywhere.
from tests.worker.conftest import appliance  # noqa: E402, F401
