"""The webhook and job URLs name the address really served: `[server] public_url` when set,
else this server's scheme, host and port, `--port` included."""

from __future__ import annotations

import argparse
from pathlib import Path

from revisor import config
from revisor.cli.processes import listen_env


def test_without_public_url_the_served_port_is_named(tmp_path: Path) -> None:
    (tmp_path / config.CONFIG_NAME).write_text("[server]\nport = 9123\n")
    assert config.load(tmp_path, environ={}).public_base_url == "http://127.0.0.1:9123"


def test_an_explicit_public_url_wins(tmp_path: Path) -> None:
    (tmp_path / config.CONFIG_NAME).write_text(
        '[server]\nport = 9123\npublic_url = "https://revisor.corp/"\n'
    )
    assert config.load(tmp_path, environ={}).public_base_url == "https://revisor.corp"


def test_a_port_given_on_the_command_line_reaches_the_served_processes(tmp_path: Path) -> None:
    args = argparse.Namespace(host=None, port=9200)
    env = listen_env(args)
    assert env == {"REVISOR_SERVER__PORT": "9200"}
    assert config.load(tmp_path, environ=env).public_base_url == "http://127.0.0.1:9200"
