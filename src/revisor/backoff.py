"""Retry backoff: the one rule every retry loop in Revisor waits by.

The worker's job retries (`worker/runner.py`), the model client's request retries
(`llm/client.py`), the forge adapters' request retries (`forges/base.py`) and the sign-in
throttle (`web/auth/throttle.py`) all call `backoff()`.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_DOUBLINGS = 32  # 2**32 * base is far beyond any cap; keeps the float finite


def backoff(
    step: int, base: float, cap: float, *, jitter: Callable[[], float] | None = None
) -> float:
    """Seconds to wait before retry number `step` (1 for the first): base, 2*base, 4*base ...,
    never more than `cap`; 0 for a step below 1.

    With `jitter` (a draw in [0, 1), e.g. `random.random`), a point in the upper half of that
    wait: retries spread out but never come sooner than half the step.
    """
    if step < 1:
        return 0.0
    wait = float(min(cap, base * 2.0 ** min(step - 1, MAX_DOUBLINGS)))
    return wait if jitter is None else wait * (0.5 + jitter() / 2)
