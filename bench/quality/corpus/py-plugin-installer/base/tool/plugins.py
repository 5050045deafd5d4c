"""Plugins for the release tool: listed in plugins.yaml, installed under ~/.reltool/plugins."""

from __future__ import annotations

from pathlib import Path

PLUGIN_DIR = Path.home() / ".reltool" / "plugins"


def installed() -> list[str]:
    if not PLUGIN_DIR.is_dir():
        return []
    return sorted(p.name for p in PLUGIN_DIR.iterdir() if p.is_dir())
