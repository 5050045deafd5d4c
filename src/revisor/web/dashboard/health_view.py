"""How healthy a model endpoint is, honestly: the readiness probe says whether it answers at
all; the calls of the last hour say whether reviews get through. An endpoint that answers the
probe but fails most real calls is "failing", not "up"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

HOUR = 3600.0
MIN_CALLS = 3  # fewer calls than this say nothing about a failure rate
FAILING_RATE = 0.5
DEGRADED_RATE = 0.1


@dataclass(frozen=True)
class Health:
    endpoint: str
    verdict: str  # up | degraded | failing | down | unknown
    probe_ok: bool | None  # None: this process did not probe this endpoint
    probe_detail: str
    calls: int
    errors: int

    @property
    def failure_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None

    @property
    def css(self) -> str:
        return {"up": "done", "degraded": "retrying", "unknown": "skipped"}.get(
            self.verdict, "failed"
        )

    @property
    def summary(self) -> str:
        rate = self.failure_rate
        calls = (
            f"{self.errors} of {self.calls} calls failed in the last hour ({rate:.0%})"
            if rate is not None
            else "no calls in the last hour"
        )
        return calls


def verdict(probe_ok: bool | None, calls: int, errors: int) -> str:
    if probe_ok is False:
        return "down"
    if calls >= MIN_CALLS:
        rate = errors / calls
        if rate >= FAILING_RATE:
            return "failing"
        if rate >= DEGRADED_RATE:
            return "degraded"
    if probe_ok is None and calls < MIN_CALLS:
        return "unknown"
    return "up"


def call_counts(db: sqlite_utils.Database, since: float) -> dict[str, tuple[int, int]]:
    """Per endpoint: (calls, failed calls) since `since`."""
    return {
        str(r[0]): (int(r[1]), int(r[2] or 0))
        for r in db.execute(
            "SELECT endpoint, count(*), sum(1 - ok) FROM usage WHERE created_at >= ?"
            " GROUP BY endpoint",
            [since],
        ).fetchall()
    }


def health_of(
    endpoint: str, probe: dict[str, Any] | None, counts: dict[str, tuple[int, int]]
) -> Health:
    """`probe` is the readiness answer (it names the endpoint it probed): it only counts for
    that endpoint, never for another one's card."""
    probed = probe is not None and probe.get("endpoint") == endpoint
    probe_ok = bool(probe.get("ok")) if probed and probe is not None else None
    detail = str(probe.get("detail") or "") if probed and probe is not None else ""
    calls, errors = counts.get(endpoint, (0, 0))
    return Health(endpoint, verdict(probe_ok, calls, errors), probe_ok, detail, calls, errors)


def default_health(
    db: sqlite_utils.Database, probe: dict[str, Any] | None, t: float
) -> Health | None:
    """The overview's model tile: the endpoint the probe checked, with its last hour."""
    if probe is None:
        return None
    endpoint = str(probe.get("endpoint") or "")
    if not endpoint:
        return Health(
            "",
            "down" if not probe.get("ok") else "unknown",
            bool(probe.get("ok")),
            str(probe.get("detail") or ""),
            0,
            0,
        )
    return health_of(endpoint, probe, call_counts(db, t - HOUR))
