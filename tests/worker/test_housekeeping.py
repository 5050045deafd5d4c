"""The worker's housekeeping thread deletes review transcripts whose retention ran out, and
says so in the audit trail."""

from __future__ import annotations

import time

from revisor.store import transcripts
from revisor.worker.housekeeping import Housekeeping, purge_once
from tests.worker.conftest import Appliance


def _entry(app: Appliance, job_id: int, days: int, t: float) -> None:
    transcripts.record(
        app.rt.db,
        app.rt.keys,
        job_id=job_id,
        kind="exchange",
        data={"n": days},
        keep_days=days,
        t=t,
    )


def test_purge_deletes_only_expired_entries_and_audits_the_count(appliance: Appliance) -> None:
    job_id = appliance.new_job()
    t0 = 1_000_000.0
    _entry(appliance, job_id, 1, t0)
    _entry(appliance, job_id, 1, t0)
    _entry(appliance, job_id, 5, t0)
    assert purge_once(appliance.rt.dbs, appliance.rt.audit, t0 + 0.5 * transcripts.DAY) == 0
    assert purge_once(appliance.rt.dbs, appliance.rt.audit, t0 + 2 * transcripts.DAY) == 2
    assert [
        e.data["n"] for e in transcripts.for_job(appliance.rt.db, appliance.rt.keys, job_id)
    ] == [5]
    purged = [r for r in appliance.rt.audit.records() if r["event"] == "transcript.purged"]
    assert [r["details"]["count"] for r in purged] == [2]


def test_the_thread_purges_once_at_start(appliance: Appliance) -> None:
    job_id = appliance.new_job()
    _entry(appliance, job_id, 1, time.time() - 2 * transcripts.DAY)
    keeper = Housekeeping(appliance.rt.dbs, appliance.rt.audit, interval=3600)
    keeper.start()
    try:
        deadline = time.monotonic() + 10
        while transcripts.count_for_job(appliance.rt.db, job_id) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        keeper.stop()
        keeper.join(timeout=5)
    assert transcripts.count_for_job(appliance.rt.db, job_id) == 0
    assert not keeper.is_alive()
