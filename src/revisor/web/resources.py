"""`WebResources`: everything long-lived a web process holds, built once and closed once.

`create_app()` installs `lifespan()`: on start-up it opens the resources from the settings (the
database pool, key ring, audit log, queue, webhook intake with its group-commit thread, the
sign-in context, the model-health probe), and on shutdown it closes them in reverse order (the
intake's waiting writes committed and its thread stopped, the open sums of rejected deliveries
written, the pools closed, the audit log closed). Route handlers receive what they use through
Litestar dependencies (`provide_*` below), never from a module global or a per-request build.

A Granian worker runs the lifespan once. Test clients may run it several times on the same
app, even nested (two signed-in clients at once): the holder counts them and the resources
are opened by the first and closed by the last.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from revisor.audit import AuditLog
from revisor.config import Settings
from revisor.egress import Egress, audit_refusals
from revisor.errors import ConfigError
from revisor.outbound import configured_egress
from revisor.outbound import model_health as model_health_of
from revisor.secrets import KeyRing
from revisor.store.db import PerThread
from revisor.web.auth import usernames
from revisor.web.auth.ldap import LdapAuthenticator, LdapUser
from revisor.web.auth.routes import AuthContext, Authenticator
from revisor.web.intake import WebhookIntake
from revisor.web.model_health import ModelHealth, cached
from revisor.worker.queue import Queue

log = logging.getLogger("revisor.web")

MODEL_HEALTH_TTL = 5.0  # seconds a readiness answer about the model is reused


@dataclass(frozen=True)
class WebResources:
    settings: Settings
    dbs: PerThread
    keys: KeyRing
    audit: AuditLog
    queue: Queue
    intake: WebhookIntake  # owns the group-commit writer thread
    auth: AuthContext  # the authenticator (LDAP or a test's directory) and what sign-in needs
    model_health: ModelHealth | None  # None: readiness does not ask the model

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        model_health: ModelHealth | None = None,
        probe_model: bool = False,
        authenticator: Authenticator | None = None,
        egress: Egress | None = None,
    ) -> WebResources:
        """`probe_model`: probe the default model endpoint (cached) when `model_health` is
        not given (the served app; tests pass their own probe or none). If a step fails, what
        the earlier ones opened is closed again."""
        with ExitStack() as opened:
            dbs = PerThread(settings.db_path)
            opened.callback(dbs.close)
            keys = KeyRing.load(settings.keys_dir)
            audit = AuditLog.from_settings(settings)
            opened.callback(audit.close)
            queue = Queue(settings)
            opened.callback(queue.huey.storage.close)
            if authenticator is None and settings.ldap.enabled:
                authenticator = _ldap_authenticator(settings, egress)
            if model_health is None and probe_model:

                def probe() -> dict[str, Any]:
                    refusals = audit_refusals(audit, "system:web")
                    return model_health_of(settings, dbs.get(), keys, on_refusal=refusals)

                model_health = cached(probe, ttl=MODEL_HEALTH_TTL)
            resources = cls(
                settings=settings,
                dbs=dbs,
                keys=keys,
                audit=audit,
                queue=queue,
                intake=WebhookIntake(
                    settings=settings, dbs=dbs, keys=keys, audit=audit, queue=queue
                ),
                auth=AuthContext(
                    settings=settings,
                    dbs=dbs,
                    audit=audit,
                    authenticator=authenticator,
                    name_key=usernames.hash_key(keys.keys[keys.current]),
                ),
                model_health=model_health,
            )
            opened.pop_all()  # from here on, close() closes them
        return resources

    def egress(self, actor: str, extra_urls: tuple[str, ...] = ()) -> Egress:
        """The allowlist as configured right now, refusals audited as `actor`'s."""
        return configured_egress(
            self.settings,
            self.dbs.get(),
            on_refusal=audit_refusals(self.audit, actor),
            extra_urls=extra_urls,
        )

    def close(self) -> None:
        """Reverse order of opening, each step even if an earlier one failed: the intake (its
        waiting writes committed, its writer thread stopped, the open sums of rejected
        deliveries written), the queue's connection, the audit log, the database pool."""
        with ExitStack() as closing:  # callbacks run last-in, first-out
            closing.callback(self.dbs.close)
            closing.callback(self.audit.close)
            closing.callback(self.queue.huey.storage.close)
            closing.callback(self.intake.close)


# What a handler's parameter is annotated with to receive a dependency by its name (the
# objects are ours, built once: nothing to validate).
Resources = NamedDependency[SkipValidation[WebResources]]
Dbs = NamedDependency[SkipValidation[PerThread]]
Audit = NamedDependency[SkipValidation[AuditLog]]


class ResourceHolder:
    """The resources of one app, opened by its lifespan. `get()` is what the dependencies and
    the session middleware call at request time."""

    def __init__(self, open_resources: Callable[[], WebResources]) -> None:
        self._open = open_resources
        self._lock = threading.Lock()
        self._users = 0
        self._current: WebResources | None = None

    def get(self) -> WebResources:
        current = self._current
        if current is None:
            raise RuntimeError("the web resources are not open: the app's lifespan has not run")
        return current

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        with self._lock:
            if self._users == 0:
                self._current = self._open()
                app.state.resources = self._current
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._current is not None:
                    closing, self._current = self._current, None
                    del app.state.resources
                    closing.close()


def dependencies(holder: ResourceHolder) -> dict[str, Provide]:
    """What handlers may ask for by name: `resources`, `settings`, `dbs`, `audit`, `auth`.

    `dbs` is the per-thread pool, not a connection: a sync handler runs in a worker thread
    and takes that thread's connection with `dbs.get()`."""

    def provide_resources() -> WebResources:
        return holder.get()

    def provide_settings() -> Settings:
        return holder.get().settings

    def provide_dbs() -> PerThread:
        return holder.get().dbs

    def provide_audit() -> AuditLog:
        return holder.get().audit

    def provide_auth() -> AuthContext:
        return holder.get().auth

    return {
        name: Provide(fn, sync_to_thread=False)
        for name, fn in {
            "resources": provide_resources,
            "settings": provide_settings,
            "dbs": provide_dbs,
            "audit": provide_audit,
            "auth": provide_auth,
        }.items()
    }


class _Unavailable:
    """Stands in for a misconfigured directory: the app still starts (the break-glass admin can
    sign in and fix things), and every LDAP sign-in fails with the configuration error."""

    def __init__(self, error: ConfigError) -> None:
        self.error = error

    def authenticate(self, username: str, password: str) -> LdapUser:
        raise self.error


def _ldap_authenticator(settings: Settings, egress: Egress | None) -> Authenticator:
    egress = egress or Egress.from_urls([*settings.ldap.servers, *settings.egress.allow])
    try:
        return LdapAuthenticator.from_settings(settings.ldap, egress)
    except ConfigError as exc:
        log.error("LDAP sign-in is disabled by a configuration error: %s", exc)
        return _Unavailable(exc)
