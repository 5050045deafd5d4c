"""The `revisor` command's subcommand groups: each is part of every build."""

from __future__ import annotations

import pytest

from revisor import cli


def test_a_missing_subcommand_module_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in `SUBCOMMAND_MODULES` or a module left out of a build must not silently drop
    its commands."""
    monkeypatch.setattr(
        cli, "SUBCOMMAND_MODULES", (*cli.SUBCOMMAND_MODULES, "revisor.cli.not_there")
    )
    with pytest.raises(ModuleNotFoundError, match=r"revisor\.cli\.not_there"):
        cli.build_parser()


def test_every_listed_group_registers_its_commands() -> None:
    commands = cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"init", "repo", "server", "doctor", "review"} <= set(commands)
