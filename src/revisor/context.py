"""What a command works with: the settings, and the database, key ring and audit log, each
opened on first use.

Opening lazily means a command that needs only the settings (or nothing: `audit verify`) does
not touch the database or the keys. This holds handles, no behaviour: the egress allowlist is
`outbound.configured_egress`, the endpoints `llm.registry.select_endpoints`, the model's health
`outbound.model_health`. Long-running processes build their own resources once
(`worker/resources.py`, the web app's lifespan).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlite_utils

from revisor.audit import AuditLog
from revisor.config import Settings
from revisor.errors import ConfigError
from revisor.secrets import KeyRing
from revisor.store import db as store_db


@dataclass
class Context:
    settings: Settings
    component: str = "cli"

    @property
    def actor(self) -> str:
        """Who acts, for audit records this process writes on its own (egress refusals)."""
        return f"system:{self.component}"

    @functools.cached_property
    def dbs(self) -> store_db.PerThread:
        """Migrated once; each thread then gets its own connection."""
        if not self.settings.data_dir.is_dir():
            raise ConfigError(
                f"data dir {self.settings.data_dir} does not exist; run `revisor init` first"
            )
        return store_db.PerThread(self.settings.db_path)

    @property
    def db(self) -> sqlite_utils.Database:
        return self.dbs.get()

    @functools.cached_property
    def keys(self) -> KeyRing:
        return KeyRing.load(self.settings.keys_dir)

    @functools.cached_property
    def audit(self) -> AuditLog:
        return AuditLog.from_settings(self.settings)

    def close(self) -> None:
        if "dbs" in self.__dict__:
            self.__dict__.pop("dbs").close()
        if "audit" in self.__dict__:
            self.__dict__.pop("audit").close()
