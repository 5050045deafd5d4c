"""Log levels per component come from `[log.levels]` in revisor.toml."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from revisor import config, logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger("revisor")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    for h in root.handlers:
        h.close()
    root.handlers[:], root.level, root.propagate = saved


def load(tmp_path: Path, toml: str) -> config.Settings:
    data = tmp_path / "data"
    data.mkdir()
    (data / "revisor.toml").write_text(toml)
    return config.load(data, environ={})


def emit_all_levels() -> None:
    log = logging.getLogger("revisor.worker.pipeline")
    log.debug("debug line")
    log.info("info line")
    log.warning("warning line")


def levels_in(path: Path) -> list[str]:
    return [json.loads(x)["level"] for x in path.read_text().splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_component_level_overrides_the_default(tmp_path: Path) -> None:
    settings = load(tmp_path, '[log]\nlevel = "info"\n[log.levels]\nworker = "debug"\n')
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    logs.configure("worker", settings.log, log_dir)
    emit_all_levels()
    assert levels_in(log_dir / "worker.log") == ["debug", "info", "warning"]

    logs.configure("web", settings.log, log_dir)  # no entry for web: the default, info
    emit_all_levels()
    assert levels_in(log_dir / "web.log") == ["info", "warning"]


@pytest.mark.usefixtures("restore_logging")
def test_a_quieter_component_and_env_override(tmp_path: Path) -> None:
    settings = load(tmp_path, '[log.levels]\nweb = "warning"\n')
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    logs.configure("web", settings.log, log_dir)
    emit_all_levels()
    assert levels_in(log_dir / "web.log") == ["warning"]
    # libraries that would log URLs or task arguments never go below WARNING
    assert logging.getLogger("httpx").level >= logging.WARNING


@pytest.mark.usefixtures("restore_logging")
def test_bound_ids_reach_every_line(tmp_path: Path) -> None:
    settings = load(tmp_path, "")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    logs.configure("worker", settings.log, log_dir)
    with logs.bound(job_id=12, request_id="abc123"):
        logging.getLogger("revisor.worker").info("inside")
    logging.getLogger("revisor.worker").info("outside")
    inside, outside = (json.loads(x) for x in (log_dir / "worker.log").read_text().splitlines())
    assert (inside["job_id"], inside["request_id"]) == (12, "abc123")
    assert "job_id" not in outside
