"""The one retry-backoff rule, and the three retry loops that wait by it."""

from __future__ import annotations

import random

import pytest

from revisor.backoff import backoff
from revisor.config import WorkerSettings
from revisor.llm.client import RetryPolicy
from revisor.web.auth import throttle
from revisor.worker.runner import backoff_delay


def test_doubles_from_base_up_to_the_cap() -> None:
    assert [backoff(n, 10.0, 100.0) for n in range(0, 7)] == [0.0, 10, 20, 40, 80, 100, 100]
    assert backoff(10**9, 1.0, 5.0) == 5.0  # no overflow, however many failures


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.999])
def test_jitter_stays_in_the_upper_half(draw: float) -> None:
    wait = backoff(3, 1.0, 100.0, jitter=lambda: draw)
    assert 2.0 <= wait <= 4.0
    assert wait == pytest.approx(4.0 * (0.5 + draw / 2))


def test_every_retry_loop_waits_by_the_same_rule() -> None:
    draws = iter([0.3, 0.3])
    worker = WorkerSettings(backoff_base_seconds=10.0, backoff_max_seconds=900.0)

    class Draw(random.Random):
        def random(self) -> float:
            return next(draws)

    assert backoff_delay(3, worker, Draw()) == pytest.approx(
        backoff(3, 10.0, 900.0, jitter=lambda: 0.3)
    )
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    assert policy.delay(4, lambda: 0.3) == backoff(4, 1.0, 30.0, jitter=lambda: 0.3)
    assert throttle.backoff(5, 3, 15.0, 900.0) == backoff(3, 15.0, 900.0)
    assert throttle.backoff(2, 3, 15.0, 900.0) == 0.0
