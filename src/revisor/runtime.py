"""The composition root's bag of long-lived objects, built once from settings.

Everything is opened lazily, so a command that needs only the settings (or nothing: `audit
verify`) does not touch the database or the keys.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from revisor.audit import AuditLog
from revisor.config import Settings
from revisor.egress import Egress, allowlist_from, audit_refusals
from revisor.errors import ConfigError
from revisor.secrets import KeyRing
from revisor.store import db as store_db
from revisor.store import servers


@dataclass
class Runtime:
    settings: Settings
    component: str = "cli"

    @functools.cached_property
    def dbs(self) -> store_db.PerThread:
        """Migrated once; each thread then gets its own connection (workers are threaded)."""
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

    def egress(self, extra_urls: tuple[str, ...] = ()) -> Egress:
        """The allowlist as configured right now (the Git servers admins allowed, model
        endpoints, LDAP, the sidecar); a refusal is written to the audit log."""
        from revisor.llm.registry import endpoint_urls

        return allowlist_from(
            self.settings,
            servers.urls(self.db),
            [*endpoint_urls(self.settings, self.db), *extra_urls],
            on_refusal=audit_refusals(self.audit, f"system:{self.component}"),
        )

    def uses_embedded_model(self) -> bool:
        """True when no external model endpoint is configured: `revisor up` runs the sidecar."""
        if self.settings.model.endpoints:
            return False
        table = self.db["model_endpoints"]
        return not (table.exists() and table.count)

    def sidecar_endpoint(self) -> tuple[str, str]:
        """URL and API key of the embedded sidecar (the key file is created on first use)."""
        from revisor.inference.sidecar import API_KEY_FILE, ensure_api_key

        m = self.settings.model
        url = f"http://{m.sidecar_host}:{m.sidecar_port}/v1"
        return url, ensure_api_key(self.settings.keys_dir / API_KEY_FILE)

    def model_health(self) -> dict[str, Any]:
        """Probe the default model endpoint (`GET /models`, 2 s timeout) for /readyz."""
        from revisor.llm.registry import collect_endpoints

        try:
            url = key = None
            if self.uses_embedded_model():
                url, key = self.sidecar_endpoint()
            found = collect_endpoints(
                self.settings, self.db, self.keys, sidecar_url=url, sidecar_key=key
            )
            endpoint = found.endpoints[found.default]
            headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else None
            with self.egress((endpoint.url,)).client(
                endpoint.url, purpose="model health", timeout=2.0, headers=headers
            ) as client:
                response = client.get(endpoint.url.rstrip("/") + "/models")
            ok = response.status_code == 200
            detail = "ok" if ok else f"HTTP {response.status_code}"
            return {"ok": ok, "endpoint": endpoint.id, "detail": detail}
        except Exception as exc:  # a probe reports, it never raises
            return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}

    def close(self) -> None:
        if "dbs" in self.__dict__:
            self.__dict__.pop("dbs").close()
        if "audit" in self.__dict__:
            self.__dict__.pop("audit").close()
