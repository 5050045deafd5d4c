"""The worker process's resources: built once by `open()`, closed once by `close()`.

`worker/main.py` opens them at start-up: the settings, the database pool, the audit log, the
key ring, the queue, and the outbound connections (the egress allowlist and the model router,
whose HTTP clients every job shares). A job gets its forge and its model from here; nothing is
built per job except the forge adapter the first time a thread reviews a repository.

The egress and the router follow the configuration: before each job two small queries compare
the allowed Git servers and the registered model endpoints with what they were built from, and
only a change (`revisor server add`, `revisor model add` while the worker runs) rebuilds them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from revisor.audit import AuditLog
from revisor.config import Settings
from revisor.domain import ChatModel, UsageSink
from revisor.egress import Egress, audit_refusals
from revisor.errors import ConfigError
from revisor.forges import ForgeTarget, open_forge
from revisor.forges.base import Forge
from revisor.llm.client import Router
from revisor.llm.registry import build_router, select_endpoints
from revisor.outbound import configured_egress
from revisor.secrets import KeyRing
from revisor.store import conversations, endpoints, jobs, repos, servers
from revisor.store.db import PerThread
from revisor.worker.conversation import Conversation, answer_message
from revisor.worker.finalstatus import finalize
from revisor.worker.pipeline import JobSettings, job_url, review_job
from revisor.worker.queue import Queue
from revisor.worker.runner import JobContext, JobOutcome, Pipeline, Runner
from revisor.worker.transcript import JobTranscript

log = logging.getLogger("revisor.worker")

ACTOR = "system:worker"

PipelineWrapper = Callable[[Pipeline], Pipeline]


class Connections:
    """The egress and the model router for the configuration as it is now, shared by every
    job and thread; a `MeteredModel` (each job meters its own usage through `metered()`)."""

    def __init__(self, settings: Settings, dbs: PerThread, keys: KeyRing, audit: AuditLog) -> None:
        self._settings, self._dbs, self._keys, self._audit = settings, dbs, keys, audit
        self._lock = threading.Lock()
        self._key: Hashable = None
        self._egress: Egress | None = None
        self._router: Router | None = None
        self._routers: list[Router] = []  # every router built, closed at exit (jobs may hold one)
        self.generation = 0  # bumped whenever the egress is rebuilt

    def _config_key(self) -> Hashable:
        db = self._dbs.get()
        return (tuple(servers.urls(db)), endpoints.fingerprint(db))

    def egress(self) -> Egress:
        key = self._config_key()
        with self._lock:
            if self._egress is None or key != self._key:
                on_refusal = audit_refusals(self._audit, ACTOR)
                self._egress = configured_egress(
                    self._settings, self._dbs.get(), on_refusal=on_refusal
                )
                self._router, self._key = None, key
                self.generation += 1
            return self._egress

    def router(self) -> Router:
        """Built on first use (a configuration error fails the job that needs the model, with
        the commit status saying so) and again after a configuration change."""
        egress = self.egress()
        with self._lock:
            if self._router is None:
                db = self._dbs.get()
                found = select_endpoints(self._settings, endpoints.with_keys(db, self._keys))
                self._router = build_router(self._settings, found, egress)
                self._routers.append(self._router)
            return self._router

    def metered(self, on_usage: UsageSink) -> ChatModel:
        return self.router().metered(on_usage)

    def close(self) -> None:
        with self._lock:
            for router in self._routers:
                router.close()
            self._routers.clear()
            self._router = self._egress = None


class ForgeAdapters:
    """Forge adapters, one per repository and worker thread, reused while the repository rows
    (`repos.version`) and the egress stay the same. Per thread: an adapter holds an HTTP
    session and small caches that are not meant to be shared between concurrent jobs."""

    def __init__(self, dbs: PerThread, keys: KeyRing, connections: Connections) -> None:
        self._dbs, self._keys, self._connections = dbs, keys, connections
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Forge] = []

    def for_repo(self, repo_id: int) -> Forge:
        db = self._dbs.get()
        egress = self._connections.egress()
        key = (repos.version(db), self._connections.generation)
        cache: dict[int, tuple[tuple[int, int], Forge]] = self._local.__dict__.setdefault(
            "adapters", {}
        )
        hit = cache.get(repo_id)
        if hit is not None and hit[0] == key:
            return hit[1]
        repo = repos.get(db, repo_id)
        token = repos.load_secrets(db, self._keys, repo).token
        target = ForgeTarget(repo.forge, repo.server, repo.project, token, repo.ca_file)
        forge = open_forge(target, egress)
        if hit is not None:
            self._close(hit[1])
        cache[repo_id] = (key, forge)
        with self._lock:
            self._all.append(forge)
        return forge

    def _close(self, forge: Forge) -> None:
        with self._lock:
            if forge in self._all:
                self._all.remove(forge)
        close: Callable[[], Any] | None = getattr(forge, "close", None)
        if close is not None:
            close()

    def close(self) -> None:
        with self._lock:
            adapters, self._all = self._all, []
        for forge in adapters:
            close: Callable[[], Any] | None = getattr(forge, "close", None)
            if close is not None:
                close()


@dataclass(eq=False)
class WorkerResources:
    settings: Settings
    dbs: PerThread
    audit: AuditLog
    keys: KeyRing
    connections: Connections
    forges: ForgeAdapters
    runner: Runner = field(init=False)
    queue: Queue = field(init=False)
    owns_handles: bool = field(default=False, init=False)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        wrap: PipelineWrapper = lambda p: p,
    ) -> WorkerResources:
        """Everything a worker process needs, opened once; `wrap` decorates the pipeline
        (`metrics.timed_pipeline` in `revisor worker`)."""
        if not settings.data_dir.is_dir():
            raise ConfigError(
                f"data dir {settings.data_dir} does not exist; run `revisor init` first"
            )
        handles = PerThread(settings.db_path), AuditLog.from_settings(settings)
        res = cls.assemble(settings, *handles, KeyRing.load(settings.keys_dir), wrap=wrap)
        res.owns_handles = True
        return res

    @classmethod
    def assemble(
        cls,
        settings: Settings,
        dbs: PerThread,
        audit: AuditLog,
        keys: KeyRing,
        *,
        wrap: PipelineWrapper = lambda p: p,
    ) -> WorkerResources:
        """The worker's resources around handles already open (tests share them); `close()`
        then leaves those handles open."""
        connections = Connections(settings, dbs, keys, audit)
        res = cls(settings, dbs, audit, keys, connections, ForgeAdapters(dbs, keys, connections))
        res.runner = Runner(
            settings.worker, dbs, audit, wrap(res.run_job), on_final=res.final_status
        )
        res.queue = Queue(settings, runner=res.runner)
        return res

    def run_job(self, ctx: JobContext) -> JobOutcome:
        """The pipeline the runner calls: this job's forge and the shared model. A job that
        answers a comment goes through `worker/conversation.py` first."""
        forge = self.forges.for_repo(ctx.job.repo_id)
        settings = JobSettings.from_settings(self.settings)

        def review() -> JobOutcome:
            return review_job(
                ctx,
                forge=forge,
                model=self.connections,
                store=self.dbs,
                audit=self.audit,
                settings=settings,
                transcript=JobTranscript.for_job(self.dbs, self.keys, ctx.job.id, ctx.job.repo_id),
            )

        message = conversations.message_for(self.dbs.get(), ctx.job.id)
        if message is None:
            return review()
        env = Conversation(forge, self.connections, self.dbs, self.audit, settings)
        return answer_message(ctx, message, env, review)

    def final_status(self, job: jobs.Job, state: str) -> None:
        """The commit status of a job that ended outside the pipeline (`finalstatus.py`)."""
        finalize(
            self.forges.for_repo(job.repo_id),
            self.audit,
            job,
            state,
            job_url(self.settings.server.public_url, job.id),
        )

    def close(self) -> None:
        self.forges.close()
        self.connections.close()
        if self.owns_handles:
            self.dbs.close()
            self.audit.close()
