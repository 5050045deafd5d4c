"""Fixtures for the audit tests: a signed audit log in a temporary data dir."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from revisor.audit import AuditLog, Event, Signer, ensure_signing_key

# `tests/secret_scan.py` is a shared helper, not a package module.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer.load(ensure_signing_key(tmp_path / "keys"))


@pytest.fixture
def log(tmp_path: Path, signer: Signer) -> Iterator[AuditLog]:
    audit = AuditLog(tmp_path / "audit.db", signer=signer, checkpoint_every=5)
    yield audit
    audit.close()


Fill = Callable[[AuditLog, int], None]


@pytest.fixture
def fill() -> Fill:
    def _fill(log: AuditLog, n: int) -> None:
        for i in range(n):
            log.record(Event.JOB_CREATED, actor="system:test", target=f"job:{i}", n=i)

    return _fill
