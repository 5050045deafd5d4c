"""Plant known secrets, use the appliance the way people do, then look for the secrets on disk.

Secrets planted: the Git token, the webhook secret, the model endpoint's API key, a user's
LDAP password (right and wrong), and a credential inside the reviewed diff. Activity: a webhook,
a review, sign-ins, an audit export. Scanned: every file of the data dir (databases with their
WAL files, logs, keys excepted), the export, and the captured log output.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from revisor import logs
from revisor.cli import main
from revisor.domain import ForgeKind
from revisor.store.db import PerThread
from revisor.web.intake import WebhookIntake
from revisor.worker.queue import Queue
from tests import webhook_payloads as wp
from tests.fakes.model import FakeFile
from tests.secret_scan import assert_no_plaintext
from tests.web.webapp import PASSWORD, FakeDirectory, login, make_app
from tests.worker.conftest import GL_TOKEN, MODEL_KEY, Appliance, finding

WEBHOOK_SECRET = "webhook-secret-for-tests-0123"
WRONG_PASSWORD = "Wr0ng-passw0rd-typed-by-alice"
DIFF_CREDENTIAL = "glpat-Zz9Yy8Xx7Ww6Vv5Uu4Tt"


@pytest.fixture
def file_logs(appliance: Appliance) -> Iterator[Path]:
    """Send `revisor.*` logs to the data dir's log files, as the real processes do."""
    root = logging.getLogger("revisor")
    saved = (list(root.handlers), root.level, root.propagate)
    logs.configure("worker", appliance.settings.log, appliance.settings.log_dir)
    yield appliance.settings.log_dir
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    root.propagate = saved[2]


def test_no_secret_reaches_disk(
    appliance: Appliance, file_logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = appliance.settings
    diff = f'@@ -1,2 +1,3 @@\n x = 1\n+token = "{DIFF_CREDENTIAL}"\n y = 2\n'
    appliance.gitlab.add_merge_request("group/app", 7, files=[FakeFile("app.py", diff)])
    appliance.reply(finding(2, title="Hard-coded token"))

    # a webhook, authenticated with the plain secret, and the review it triggers
    intake = WebhookIntake(
        settings,
        PerThread(settings.db_path),
        appliance.rt.keys,
        appliance.rt.audit,
        Queue(settings),
    )
    payload = wp.gitlab_mr(project="group/app", iid=7, head=appliance.head())
    answer = intake.handle(
        ForgeKind.GITLAB,
        wp.gitlab_headers(WEBHOOK_SECRET),
        wp.body_of(payload),
        source="127.0.0.1",
        request_id="r1",
    )
    assert answer.status == 202
    appliance.runner()(answer.body["job_id"])
    assert appliance.job(answer.body["job_id"]).state == "done"
    assert appliance.gitlab.discussions("group/app", 7)  # the credential was flagged

    # sign-ins: a wrong password, then the right one
    ldap_on = dataclasses.replace(settings, ldap=dataclasses.replace(settings.ldap, enabled=True))
    with TestClient(make_app(ldap_on, FakeDirectory())) as client:
        assert login(client, "admin-user", WRONG_PASSWORD).status_code != 303
        assert login(client, "admin-user", PASSWORD).status_code == 303

    # an audit export
    export = tmp_path / "export"
    assert (
        main(["audit", "export", "--out", str(export), "--data-dir", str(settings.data_dir)]) == 0
    )

    out, err = capsys.readouterr()
    (tmp_path / "captured.log").write_text(out + err)
    scanned = [p for p in settings.data_dir.iterdir() if p.name != "keys"]
    scanned += [export, tmp_path / "captured.log"]
    assert any(p.stat().st_size for p in file_logs.iterdir()), "the review wrote log lines"
    assert_no_plaintext(
        scanned, [GL_TOKEN, WEBHOOK_SECRET, MODEL_KEY, PASSWORD, WRONG_PASSWORD, DIFF_CREDENTIAL]
    )
