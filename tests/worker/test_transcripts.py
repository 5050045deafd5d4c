"""Review transcripts, captured at the model seam and after posting, through the real worker
resources against the strict fake GitLab and a fake model endpoint; and the summary note's audit
record and the endpoint named by a failed model call."""

from __future__ import annotations

import json
from typing import Any

from revisor.store import transcripts
from tests.fakes.model import FakeFile
from tests.worker.conftest import Appliance, finding

AWS_KEY = "AKIAABCDEFGHIJKLMNOP"
SECRET_DIFF = (
    "@@ -1,2 +1,4 @@\n"
    " import subprocess\n"
    f'+KEY = "{AWS_KEY}"\n'
    "+subprocess.call(user_input, shell=True)\n"
    " x = 1\n"
)


def records(app: Appliance, event: str) -> list[dict[str, Any]]:
    return [r for r in app.rt.audit.records() if r["event"] == event]


def entries(app: Appliance, job_id: int) -> list[transcripts.Entry]:
    return transcripts.for_job(app.rt.db, app.rt.keys, job_id)


def test_a_review_keeps_the_redacted_prompt_the_answer_and_what_was_posted(
    appliance: Appliance,
) -> None:
    appliance.gitlab.add_merge_request("group/app", 8, files=[FakeFile("app.py", SECRET_DIFF)])
    appliance.reply(finding(3))
    appliance.runner()(job_id := appliance.new_job(8))
    assert appliance.job(job_id).state == "done", appliance.job(job_id).last_error

    got = entries(appliance, job_id)
    exchanges = [e.data for e in got if e.kind == "exchange"]
    assert exchanges, got
    sent = "\n".join(m["content"] for m in exchanges[0]["messages"])
    assert "subprocess.call(user_input, shell=True)" in sent  # what the model saw
    assert AWS_KEY not in sent
    assert "[REDACTED" in sent
    assert json.loads(exchanges[0]["answer"])["findings"][0]["title"] == "Shell injection"
    assert exchanges[0]["endpoint"] == "fake"
    assert exchanges[0]["model"] == "m1"

    (outcome,) = [e.data for e in got if e.kind == "outcome"]
    assert "Shell injection" in [f["title"] for f in outcome["findings"]]
    sent_bodies = [d["notes"][0]["body"] for d in appliance.gitlab.discussions("group/app", 8)]
    assert [p["body"] for p in outcome["posted"]] == sent_bodies  # exactly what the forge got
    (posted,) = [p for p in outcome["posted"] if "Shell injection" in p["body"]]
    assert (posted["path"], posted["new_line"]) == ("app.py", 3)
    assert outcome["summary"]["action"] == "created"
    assert outcome["summary"]["body"] == appliance.gitlab.notes("group/app", 8)[0]["body"]


def test_transcripts_are_sealed_at_rest(appliance: Appliance) -> None:
    appliance.runner()(job_id := appliance.new_job())
    rows = appliance.rt.db.execute(
        "SELECT body_enc FROM transcripts WHERE job_id = ?", [job_id]
    ).fetchall()
    assert rows
    for (body,) in rows:
        assert b"subprocess" not in body
        assert b"Shell injection" not in body


def test_a_repository_that_keeps_no_transcripts_stores_none(appliance: Appliance) -> None:
    transcripts.set_days(appliance.rt.db, appliance.repo.id, 0)
    appliance.runner()(job_id := appliance.new_job())
    assert appliance.job(job_id).state == "done"
    assert transcripts.count_for_job(appliance.rt.db, job_id) == 0


def test_entries_expire_after_the_repositorys_days(appliance: Appliance) -> None:
    transcripts.set_days(appliance.rt.db, appliance.repo.id, 3)
    appliance.runner()(job_id := appliance.new_job())
    got = entries(appliance, job_id)
    assert got
    for e in got:
        assert abs((e.expires_at - e.created_at) - 3 * transcripts.DAY) < 1


def test_creating_then_updating_the_summary_note_is_audited(appliance: Appliance) -> None:
    appliance.runner()(first := appliance.new_job())
    appliance.runner()(second := appliance.new_job())
    summary = records(appliance, "forge.summary.posted")
    assert [(r["details"]["job_id"], r["details"]["action"]) for r in summary] == [
        (first, "created"),
        (second, "updated"),
    ]
    assert summary[0]["target"] == "gitlab:group/app!7"
    assert len(appliance.gitlab.notes("group/app", 7)) == 1


def test_a_failed_model_call_names_its_endpoint(appliance: Appliance) -> None:
    appliance.model.stop()
    appliance.runner()(job_id := appliance.new_job())
    failed = [r for r in records(appliance, "model.request") if r["outcome"] == "failure"]
    assert failed
    assert failed[0]["target"] == "model-endpoint:fake"
    assert failed[0]["details"]["endpoint"] == "fake"
    assert "model endpoint fake unavailable" in failed[0]["details"]["message"]
    (exchange,) = [e.data for e in entries(appliance, job_id) if e.kind == "exchange"][:1]
    assert exchange["endpoint"] == "fake"
    assert "unavailable" in exchange["error"]
    assert "answer" not in exchange
