"""The web server dies or the database is busy while webhooks arrive.

Guarantee under test: a 2xx answer means the delivery and its job are committed. A delivery
that got no answer (or a 5xx) is redelivered by GitLab with the same event UUID, which we do
too; the redelivery must then be accepted once, never twice.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time

import httpx
import pytest

from tests.reliability.conftest import Stack
from tests.reliability.harness import (
    Delivery,
    all_jobs,
    assert_no_acknowledged_delivery_lost,
    assert_no_duplicate_comment,
    delivery_rows,
    send_mr_hook,
    settled,
    summaries,
    wait_for,
)

pytestmark = pytest.mark.slow

MRS = range(7, 17)


class Sender(threading.Thread):
    """Sends `count` deliveries for random MRs; redelivers unanswered ones like GitLab does."""

    def __init__(self, stack: Stack, count: int, seed: int, deadline: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.count, self.deadline = stack, count, deadline
        self.rng = random.Random(seed)
        self.sent: list[Delivery] = []  # the last answer for each delivery
        self.redeliveries = 0

    def run(self) -> None:
        with httpx.Client() as client:
            for _ in range(self.count):
                iid = self.rng.choice(MRS)
                head = self.stack.app.head(iid)
                d = send_mr_hook(client, self.stack.server.url, iid=iid, head=head, timeout=10)
                while not d.acknowledged and time.monotonic() < self.deadline:
                    time.sleep(0.1)
                    self.redeliveries += 1
                    d = send_mr_hook(
                        client, self.stack.server.url, iid=iid, head=head, key=d.key, timeout=10
                    )
                self.sent.append(d)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_server_restarted_during_a_burst(stack: Stack, sig: signal.Signals) -> None:
    stack.add_mrs(MRS[1:])
    stack.start()
    deadline = time.monotonic() + 90
    senders = [Sender(stack, 60, seed, deadline) for seed in range(4)]
    for s in senders:
        s.start()
    wait_for("a first part of the burst", lambda: sum(len(s.sent) for s in senders) >= 40)
    stack.server.stop(sig)
    stack.server.start()
    for s in senders:
        s.join(timeout=max(1.0, deadline - time.monotonic()))
        assert not s.is_alive(), "a sender did not finish in time"
    sent = [d for s in senders for d in s.sent]
    assert len(sent) == 240
    assert all(d.acknowledged for d in sent), "a delivery was never accepted"
    assert sum(s.redeliveries for s in senders) > 0, "the restart did not hit the burst"
    assert_no_acknowledged_delivery_lost(stack.app, sent)
    assert {d.key for d in sent} <= set(delivery_rows(stack.app))
    wait_for("every job to settle", lambda: settled(stack.app), timeout=90)
    for iid in MRS:
        assert len(summaries(stack.app, iid)) == 1
        assert len(stack.app.gitlab.discussions("group/app", iid)) == 1
        assert_no_duplicate_comment(stack.app, iid)
    states = {j.state for j in all_jobs(stack.app)}
    assert states <= {"done"}, states


def test_sqlite_busy_while_webhooks_arrive_and_jobs_finish(stack: Stack) -> None:
    """Another connection holds the write lock for 3 s (a backup, a long admin query): intake
    and worker wait (busy_timeout is 10 s) instead of failing, and nothing is lost."""
    stack.add_mrs(MRS[1:])
    stack.app.model.delay = 1  # jobs are mid-review when the lock is taken
    stack.start()
    first = [stack.hook(iid) for iid in MRS[:3]]
    wait_for("reviews in progress", lambda: stack.app.model.chat_count() >= 1)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        conn = sqlite3.connect(stack.app.settings.db_path, timeout=10)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(3)
        conn.rollback()
        conn.close()

    holder = threading.Thread(target=hold_lock, daemon=True)
    holder.start()
    assert locked.wait(10)
    answers: list[Delivery] = []
    with httpx.Client() as client:

        def send(iid: int) -> None:
            head = stack.app.head(iid)
            answers.append(send_mr_hook(client, stack.server.url, iid=iid, head=head))

        threads = [threading.Thread(target=send, args=(iid,)) for iid in MRS[3:]]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    holder.join(timeout=10)
    sent = first + answers
    assert len(sent) == len(MRS)
    assert all(d.status == 202 for d in sent), [d.status for d in sent]
    assert_no_acknowledged_delivery_lost(stack.app, sent)
    wait_for("every job to finish", lambda: settled(stack.app), timeout=60)
    for iid in MRS:
        assert len(stack.app.gitlab.discussions("group/app", iid)) == 1
        assert len(summaries(stack.app, iid)) == 1
    assert {j.state for j in all_jobs(stack.app)} == {"done"}
