"""The web process's resources: opened once by the app's lifespan, handed to the handlers as
dependencies, and closed once at shutdown (writer thread stopped, connections closed)."""

from __future__ import annotations

import ast
import sqlite3
import threading
from pathlib import Path

import pytest
from litestar.testing import TestClient

from revisor.web.app import create_app
from revisor.web.resources import WebResources
from tests.conftest import DataDir

SRC = Path(__file__).resolve().parents[2] / "src" / "revisor"


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "intake-writer" and t.is_alive()]


def test_the_lifespan_closes_what_it_opened(data_dir: DataDir) -> None:
    before = len(writer_threads())
    app = create_app(data_dir.settings)
    with TestClient(app=app) as client:
        resources: WebResources = app.state.resources
        assert client.get("/readyz").status_code == 200
        assert resources.intake.writer_running
        assert len(writer_threads()) == before + 1
        pooled = resources.dbs.get()  # this thread's connection from the pool
        pooled.execute("SELECT 1").fetchall()
    assert not resources.intake.writer_running
    assert len(writer_threads()) == before
    with pytest.raises(sqlite3.ProgrammingError):  # the audit log's connection is closed
        resources.audit.db.execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError):  # and so are the pool's
        pooled.execute("SELECT 1")


def test_nested_clients_share_one_set_opened_once_and_closed_by_the_last(
    data_dir: DataDir,
) -> None:
    app = create_app(data_dir.settings)
    with TestClient(app=app) as first:
        resources = app.state.resources
        with TestClient(app=app) as second:
            assert app.state.resources is resources
            assert second.get("/healthz").status_code == 200
        assert resources.intake.writer_running  # the inner client's exit closed nothing
        assert first.get("/readyz").status_code == 200
    assert not resources.intake.writer_running
    with TestClient(app=app):  # a later client opens a fresh set
        assert app.state.resources is not resources
        assert app.state.resources.intake.writer_running


def test_nothing_in_the_web_layer_opens_the_cli_context() -> None:
    """The web process's composition root is `WebResources`; the CLI's lazily opened
    `revisor.context` is not used."""
    users = []
    for path in sorted((SRC / "web").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "revisor.context":
                users.append(str(path.relative_to(SRC)))
    assert users == []
