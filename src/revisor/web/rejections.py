"""What an unauthenticated sender can cost the intake: rejected deliveries are rate-limited per
source address, and their audit records are summed per window, so a flood costs neither CPU
(no secret check once over the limit) nor disk (O(1) audit records per window).

Both live in memory, per process (a Granian worker each): a restart forgets them, which only
gives a flooding sender a fresh allowance.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from revisor.audit import AuditRecord, Event, Outcome
from revisor.domain import ForgeKind

# Per source address: a burst of 20 rejected deliveries, then one every 3 seconds.
REJECT_BURST = 20
REJECT_PER_SECOND = 1 / 3
MAX_ADDRESSES = 10_000  # buckets kept (least recently charged dropped first)
AUDIT_WINDOW_SECONDS = 60.0
MAX_TALLIES = 1_000  # open (source, reason, target) tallies; beyond, sources are lumped as "*"


@dataclass(frozen=True)
class Rejected:
    """A delivery refused before it was authenticated: audit it, then answer `status`."""

    forge: ForgeKind
    source: str
    request_id: str
    reason: str
    status: int = 401
    target: str = "webhook"  # "repo:<id>" when the hook URL named the repository
    retry_after: float = 0.0  # seconds, for a 429
    project: str = ""  # the registered project, when the hook URL named its repository


def address_key(address: str) -> str:
    """What one sender is counted by: its address; for IPv6 its /64 (a host usually holds a
    whole /64, so counting single addresses would give it 2^64 allowances)."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


@dataclass
class _Bucket:
    tokens: float
    at: float


class RejectionLimiter:
    """A token bucket per source address, spent by rejected deliveries only: an address whose
    bucket is empty is answered 429 before any secret is checked. Accepted deliveries spend
    nothing, and an address never rejected costs one dictionary lookup."""

    def __init__(
        self,
        *,
        burst: int = REJECT_BURST,
        per_second: float = REJECT_PER_SECOND,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst, self.per_second, self.max_addresses = burst, per_second, max_addresses
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, bucket: _Bucket, now: float) -> float:
        return min(float(self.burst), bucket.tokens + max(0.0, now - bucket.at) * self.per_second)

    def retry_after(self, address: str) -> float:
        """0 when `address` may still be refused a delivery; else the seconds until it may.
        Reads only (no lock): a race can only be off by one rejection."""
        bucket = self._buckets.get(address_key(address))
        if bucket is None:
            return 0.0
        tokens = self._tokens(bucket, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.per_second

    def charge(self, address: str) -> None:
        """One rejected delivery from `address`."""
        key, now = address_key(address), self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_addresses:
                    self._buckets.popitem(last=False)
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            else:
                self._buckets.move_to_end(key)
            bucket.tokens, bucket.at = max(0.0, self._tokens(bucket, now) - 1), now


@dataclass
class _Tally:
    start: float
    more: int = 0  # rejections after the first of the window, not written yet
    last_request_id: str = ""
    project: str = ""


_TallyKey = tuple[ForgeKind, str, str, str]  # forge, source, reason, target


@dataclass
class RejectionAudit:
    """Sums `webhook.rejected` records per (source, reason, target) and window.

    The first rejection of a window is recorded at once (count 1), so an admin sees it without
    delay; the others of that window become ONE record with their count, due when the window
    closes and written with the next audit write of the intake (a rejection or an accepted
    delivery) or at shutdown (`flush`). A flood therefore writes at most two records per key and
    window, and at most MAX_TALLIES keys are open at once (beyond, the source becomes "*")."""

    window: float = AUDIT_WINDOW_SECONDS
    max_tallies: int = MAX_TALLIES
    clock: Callable[[], float] = time.time
    _tallies: OrderedDict[_TallyKey, _Tally] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note(self, rejected: Rejected) -> list[AuditRecord]:
        """Count one rejection; returns the records to write now."""
        with self._lock:
            now = self.clock()
            records = self._take(lambda tally: tally.start + self.window <= now)
            key = (rejected.forge, rejected.source, rejected.reason, rejected.target)
            if key not in self._tallies and len(self._tallies) >= self.max_tallies:
                key = (rejected.forge, "*", rejected.reason, rejected.target)
            tally = self._tallies.get(key)
            named = {"project": rejected.project} if rejected.project else {}
            if tally is None:
                self._tallies[key] = _Tally(now, project=rejected.project)
                records.append(_record(key, 1, request_id=rejected.request_id, **named))
            else:
                tally.more += 1
                tally.last_request_id = rejected.request_id
            return records

    def due(self) -> list[AuditRecord]:
        """The sums of the windows that have closed."""
        if not self._tallies:  # the accepted path's cost: one check, no lock
            return []
        with self._lock:
            now = self.clock()
            return self._take(lambda tally: tally.start + self.window <= now)

    def flush(self) -> list[AuditRecord]:
        """Every open sum, closed now (at shutdown)."""
        with self._lock:
            return self._take(lambda _tally: True)

    def _take(self, closed: Callable[[_Tally], bool]) -> list[AuditRecord]:
        """Tallies were opened in time order: the closed ones are at the front."""
        records = []
        while self._tallies:
            key, tally = next(iter(self._tallies.items()))
            if not closed(tally):
                break
            del self._tallies[key]
            if tally.more:
                records.append(
                    _record(
                        key,
                        tally.more,
                        last_request_id=tally.last_request_id,
                        window_start=tally.start,
                        window_seconds=self.window,
                        **({"project": tally.project} if tally.project else {}),
                    )
                )
        return records


def _record(key: _TallyKey, count: int, **details: object) -> AuditRecord:
    forge, source, reason, target = key
    return AuditRecord(
        Event.WEBHOOK_REJECTED,
        actor=f"forge:{forge.value}",
        target=target,
        outcome=Outcome.DENIED,
        source=source,
        details={"reason": reason, "count": count, **details},
    )
