"""The rejected-delivery limiter and the audit sums, on an injected clock (no sleeps)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from revisor.domain import ForgeKind
from revisor.web.rejections import Rejected, RejectionAudit, RejectionLimiter, address_key


@dataclass
class Clock:
    t: float = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_an_address_is_limited_after_its_burst_and_refills_with_time() -> None:
    clock = Clock()
    limiter = RejectionLimiter(burst=3, per_second=0.5, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") == 0
        limiter.charge("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == pytest.approx(2.0)
    assert limiter.retry_after("10.0.0.2") == 0  # another address is not affected
    clock.t += 2
    assert limiter.retry_after("10.0.0.1") == 0
    limiter.charge("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") > 0
    clock.t += 3600  # refills up to the burst, not beyond
    for _ in range(3):
        limiter.charge("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") > 0


def test_the_limiter_keeps_a_bounded_number_of_addresses() -> None:
    limiter = RejectionLimiter(burst=1, per_second=0.001, max_addresses=100, clock=Clock())
    for i in range(1000):
        limiter.charge(f"10.1.{i // 256}.{i % 256}")
    assert len(limiter) == 100
    assert limiter.retry_after("10.1.3.231") > 0  # the most recent are kept
    assert limiter.retry_after("10.1.0.0") == 0  # the oldest were dropped


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("testclient", "testclient"),
        ("", ""),
    ],
)
def test_ipv6_senders_are_counted_per_64(address: str, key: str) -> None:
    assert address_key(address) == key


def rejected(source: str = "10.0.0.1", reason: str = "token missing or wrong") -> Rejected:
    return Rejected(ForgeKind.GITLAB, source, "req", reason, 401, "repo:1")


def test_a_flood_makes_two_records_per_window_with_the_right_count() -> None:
    clock = Clock()
    audit = RejectionAudit(window=60, clock=clock)
    written = audit.note(rejected())  # the first is written at once
    assert [(r.source, r.target, r.details["count"]) for r in written] == [
        ("10.0.0.1", "repo:1", 1)
    ]
    for _ in range(9_999):
        clock.t += 0.001
        written += audit.note(rejected())
    assert len(written) == 1
    assert audit.due() == []
    clock.t += 60
    written += audit.due()  # the window closed: its sum
    assert len(written) == 2
    assert written[1].details["count"] == 9_999
    assert written[1].details["window_seconds"] == 60
    assert sum(r.details["count"] for r in written) == 10_000
    assert audit.due() == []
    assert audit.flush() == []


def test_sums_are_kept_apart_by_source_reason_and_target_and_flushed_on_the_next_record() -> None:
    clock = Clock()
    audit = RejectionAudit(window=60, clock=clock)
    keys = [("10.0.0.1", "a"), ("10.0.0.2", "a"), ("10.0.0.1", "b")]
    written = []
    for _ in range(5):
        for source, reason in keys:
            written += audit.note(rejected(source, reason))
    assert len(written) == 3  # one at once per key
    clock.t += 61
    written += audit.note(rejected("10.0.0.3", "c"))  # the next record flushes the closed ones
    sums = {(r.source, r.details["reason"]): r.details["count"] for r in written[3:6]}
    assert sums == {k: 4 for k in keys}
    assert written[6].source == "10.0.0.3"
    assert [r.details["count"] for r in audit.flush()] == []  # 10.0.0.3 had only its first


def test_many_sources_are_lumped_once_the_tallies_are_full() -> None:
    audit = RejectionAudit(window=60, max_tallies=10, clock=Clock())
    written = [r for i in range(1000) for r in audit.note(rejected(f"10.2.{i // 256}.{i % 256}"))]
    written += audit.flush()
    assert len(written) <= 12
    assert sum(r.details["count"] for r in written) == 1000
    assert "*" in {r.source for r in written}
