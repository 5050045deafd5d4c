"""A review that remembers: incremental scope after a push, the force-push fallback, auto-resolve
of Revisor threads whose code was fixed, thumbs-downs that keep a finding from coming back.
Real worker resources against the strict fake GitLab and a fake model endpoint."""

from __future__ import annotations

from revisor.store import conversations, suppressions
from tests.fakes.model import FakeFile
from tests.worker.conftest import APP_DIFF, Appliance, finding

P = "group/app"
APP_AT_HEAD = "import subprocess\ndef run(cmd, user_input):\n    subprocess.call(user_input, shell=True)\n    return cmd\n\nx = 1\n"  # noqa: E501
OTHER = FakeFile("lib/other.py", "@@ -1,2 +1,3 @@\n a = 1\n+b = 2\n c = 3\n")
OTHER_2 = FakeFile("lib/other.py", "@@ -1,2 +1,4 @@\n a = 1\n+b = 2\n+d = 4\n c = 3\n")
FIXED = FakeFile(
    "app.py",
    "@@ -1,4 +1,6 @@\n import subprocess\n-def run(cmd):\n+def run(cmd, user_input):\n"
    "+    subprocess.run([user_input])\n+    return cmd\n \n x = 1\n",
)
APP_FIXED = "import subprocess\ndef run(cmd, user_input):\n    subprocess.run([user_input])\n    return cmd\n\nx = 1\n"  # noqa: E501


def first_review(app: Appliance) -> None:
    app.gitlab.add_merge_request(P, 7, files=[FakeFile("app.py", APP_DIFF), OTHER])
    app.gitlab.add_file(P, app.head(), "app.py", APP_AT_HEAD)
    app.runner()(job := app.new_job())
    assert app.job(job).state == "done", app.job(job).last_error
    assert conversations.reviewed_head(app.rt.db, app.repo.id, 7) == app.head()


def summary(app: Appliance, iid: int = 7) -> str:
    (note,) = [n for n in app.gitlab.notes(P, iid) if "Revisor review" in n["body"]]
    return str(note["body"])


def prompt_text(app: Appliance) -> str:
    return "\n".join(m["content"] for m in app.model.last_body()["messages"])


def test_a_push_reviews_only_the_files_it_changed(appliance: Appliance) -> None:
    first_review(appliance)
    since = appliance.head()
    appliance.gitlab.push_commit(
        P, 7, [FakeFile("app.py", APP_DIFF), OTHER_2], touched=("lib/other.py",)
    )
    appliance.reply()
    appliance.runner()(job := appliance.new_job())
    assert appliance.job(job).state == "done", appliance.job(job).last_error
    sent = prompt_text(appliance)
    assert "lib/other.py" in sent
    assert "subprocess" not in sent  # the unchanged file is not in the prompt
    text = summary(appliance)
    assert f"the changes since `{since[:12]}`: 1 of 2 changed file(s)" in text
    # the earlier finding's thread stays open: its file did not change
    (thread,) = appliance.gitlab.discussions(P, 7)
    assert not thread["notes"][0].get("resolved")
    assert conversations.reviewed_head(appliance.rt.db, appliance.repo.id, 7) == appliance.head()


def test_a_force_push_falls_back_to_a_full_review_and_says_so(appliance: Appliance) -> None:
    first_review(appliance)
    since = appliance.head()
    appliance.gitlab.push_commit(P, 7, [FakeFile("app.py", APP_DIFF), OTHER_2], force=True)
    appliance.reply()
    appliance.runner()(appliance.new_job())
    assert "subprocess" in prompt_text(appliance)
    assert f"`{since[:12]}` is no longer in its history" in summary(appliance)


def test_full_review_trigger_reviews_everything(appliance: Appliance) -> None:
    first_review(appliance)
    appliance.gitlab.push_commit(
        P, 7, [FakeFile("app.py", APP_DIFF), OTHER_2], touched=("lib/other.py",)
    )
    appliance.reply()
    job = appliance.rt.db.execute(
        "INSERT INTO jobs (repo_id, mr_number, head_sha, trigger, state, created_at, updated_at)"
        " VALUES (?, 7, ?, 'full-review', 'queued', 0, 0)",
        [appliance.repo.id, appliance.head()],
    ).lastrowid
    appliance.rt.db.conn.commit()
    appliance.runner()(job)
    assert "subprocess" in prompt_text(appliance)
    assert "as asked (`full-review`)" in summary(appliance)


def test_a_fixed_finding_is_resolved_with_a_note_naming_the_commit(appliance: Appliance) -> None:
    first_review(appliance)
    head = appliance.gitlab.push_commit(P, 7, [FIXED, OTHER], touched=("app.py",))[2]
    appliance.gitlab.add_file(P, head, "app.py", APP_FIXED)
    appliance.reply()  # the model no longer raises it
    appliance.runner()(appliance.new_job())
    (thread,) = appliance.gitlab.discussions(P, 7)
    assert all(n.get("resolved") for n in thread["notes"])
    note = thread["notes"][-1]["body"]
    assert f"changed in `{head[:12]}`" in note
    assert "People replied" not in note
    assert "Resolved: 1 earlier Revisor thread" in summary(appliance)
    (rate,) = suppressions.acceptance(appliance.rt.db)
    assert (rate.accepted, rate.rejected) == (1, 0)
    resolved = [e for e in appliance.rt.audit.records() if e["event"] == "forge.thread.resolved"]
    assert resolved[-1]["details"]["commit"] == head[:12]


def test_a_thread_people_replied_to_says_so_and_one_they_started_is_left(
    appliance: Appliance,
) -> None:
    first_review(appliance)
    (ours,) = appliance.gitlab.discussions(P, 7)
    appliance.gitlab.reply_as(P, 7, ours["id"], "I will fix it", "alice")
    theirs = appliance.gitlab.add_note(P, 7, "question on app.py", author="bob")
    head = appliance.gitlab.push_commit(P, 7, [FIXED, OTHER], touched=("app.py",))[2]
    appliance.gitlab.add_file(P, head, "app.py", APP_FIXED)
    appliance.reply()
    appliance.runner()(appliance.new_job())
    threads = {d["id"]: d for d in appliance.gitlab.discussions(P, 7)}
    assert "People replied in this thread" in threads[ours["id"]]["notes"][-1]["body"]
    bob = [d for d in threads.values() if d["notes"][0]["id"] == theirs["id"]]
    assert bob == [] or not bob[0]["notes"][0].get("resolved")


def test_a_finding_the_model_still_raises_stays_open(appliance: Appliance) -> None:
    first_review(appliance)
    head = appliance.gitlab.push_commit(P, 7, [FIXED, OTHER], touched=("app.py",))[2]
    appliance.gitlab.add_file(P, head, "app.py", APP_FIXED)
    appliance.reply(finding(3))  # same title, same file, on the new code
    appliance.runner()(appliance.new_job())
    first = appliance.gitlab.discussions(P, 7)[0]
    assert not first["notes"][0].get("resolved")


def test_a_thumbs_down_keeps_the_finding_from_coming_back(appliance: Appliance) -> None:
    first_review(appliance)
    (thread,) = appliance.gitlab.discussions(P, 7)
    appliance.gitlab.award(thread["notes"][0]["id"], "thumbsdown", "alice")
    # the next push copies the line into another file: a new fingerprint (the path is part of
    # it), the same similarity key
    copy = FakeFile("tools/run.py", APP_DIFF, new_file=False)
    head = appliance.gitlab.push_commit(
        P, 7, [FakeFile("app.py", APP_DIFF), OTHER, copy], touched=("tools/run.py",)
    )[2]
    appliance.gitlab.add_file(P, head, "tools/run.py", APP_AT_HEAD)
    appliance.reply(finding(3, path="tools/run.py"))
    appliance.runner()(appliance.new_job())
    assert len(appliance.gitlab.discussions(P, 7)) == 1  # nothing new posted
    (row,) = suppressions.list_all(appliance.rt.db)
    assert (row.source, row.created_by) == ("award", "alice")
    assert "Suppressed: 1 finding" in summary(appliance), summary(appliance)
    added = [e for e in appliance.rt.audit.records() if e["event"] == "suppression.added"]
    assert added[-1]["actor"] == "forge-user:alice"


def test_a_thumbs_down_from_someone_who_cannot_read_the_project_does_not_count(
    appliance: Appliance,
) -> None:
    first_review(appliance)
    (thread,) = appliance.gitlab.discussions(P, 7)
    appliance.gitlab.users["stranger"] = 77  # signed in, but no member of the project
    appliance.gitlab.award(thread["notes"][0]["id"], "thumbsdown", "stranger")
    head = appliance.gitlab.push_commit(P, 7, touched=("lib/other.py",))[2]
    appliance.gitlab.add_file(P, head, "app.py", APP_AT_HEAD)
    appliance.runner()(appliance.new_job())
    assert suppressions.list_all(appliance.rt.db) == []


def test_the_emoji_hook_records_a_thumbs_down_at_once(appliance: Appliance) -> None:
    import uuid

    from revisor.store import jobs
    from revisor.store.conversations import JobMessage

    first_review(appliance)
    (thread,) = appliance.gitlab.discussions(P, 7)
    note = thread["notes"][0]
    appliance.gitlab.award(note["id"], "thumbsdown", "alice")

    def feedback(note_id: str, user: str, uid: str) -> jobs.Job:
        message = JobMessage(note_id, thread["id"], user, uid, "")
        delivery = jobs.Delivery(f"t:{uuid.uuid4()}", appliance.repo.id, "Emoji Hook", 7, "",
                                 "feedback", message=message)  # fmt: skip
        (intake,) = jobs.record_deliveries(appliance.rt.db, [delivery])
        assert intake.job_id is not None
        appliance.runner()(intake.job_id)
        return appliance.job(intake.job_id)

    # a hook naming someone who gave none, on a note that is not Revisor's: nothing counts
    other = appliance.gitlab.add_note(P, 7, "a comment", author="bob")
    assert feedback(str(other["id"]), "bob", "3").result == {"reason": "not a Revisor finding"}
    assert feedback(str(note["id"]), "alice", "2").result == {"suppressed": 1}
    (row,) = suppressions.list_all(appliance.rt.db)
    assert (row.source, row.created_by) == ("award", "alice")
    assert suppressions.acceptance(appliance.rt.db)[0].rejected == 1


def test_a_push_that_changed_nothing_reviewable_calls_no_model(appliance: Appliance) -> None:
    first_review(appliance)
    calls = appliance.model.chat_count()
    appliance.gitlab.push_commit(P, 7, touched=("README.md",))  # not in the MR's diff any more
    appliance.runner()(job := appliance.new_job())
    assert appliance.job(job).state == "done", appliance.job(job).last_error
    assert appliance.model.chat_count() == calls
    assert "0 of 2 changed file(s)" in summary(appliance)


def test_a_refused_compare_falls_back_to_a_full_review(appliance: Appliance) -> None:
    first_review(appliance)
    appliance.gitlab.push_commit(P, 7, touched=("lib/other.py",))
    appliance.gitlab.inject(404, path_contains="/repository/compare")
    appliance.reply()
    appliance.runner()(job := appliance.new_job())
    assert appliance.job(job).state == "done", appliance.job(job).last_error
    assert "subprocess" in prompt_text(appliance)
    assert "could not compare the previously reviewed commit" in summary(appliance)
