"""A small version of `bench/intake.py`: 500 signed deliveries from two client processes to
the real server. No timing is asserted (that is the benchmark's job), only that nothing an
answer acknowledged is missing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from bench.intake import Server, burst, prepare_data_dir

pytestmark = pytest.mark.slow


def test_burst_of_signed_deliveries_loses_nothing(tmp_path: Path) -> None:
    data_dir = prepare_data_dir(tmp_path)
    server = Server(data_dir, workers=2, log=tmp_path / "serve.log")
    try:
        result = burst(server.url, data_dir, deliveries=500, clients=2, threads=4)
    finally:
        server.stop()
    assert result.deliveries == 500
    assert result.acknowledged == 500, f"{result.errors} deliveries were refused"
    assert result.lost == 0
    conn = sqlite3.connect(data_dir / "revisor.db")
    try:
        (jobs,) = conn.execute("SELECT count(*) FROM jobs WHERE state = 'queued'").fetchone()
        (deliveries,) = conn.execute("SELECT count(*) FROM deliveries").fetchone()
    finally:
        conn.close()
    assert (jobs, deliveries) == (500, 500)
