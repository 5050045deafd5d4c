"""Webhook intake: verify, classify, dedup, persist the job, enqueue its id, answer.

This is plain synchronous code (the Litestar handler runs it in a worker thread), so it can be
tested and benchmarked without an HTTP server. The job and delivery rows are committed before
the answer is returned; the Huey enqueue comes after the commit — if it is lost, the reaper
enqueues the job later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from revisor.audit import AuditLog, Event, Outcome
from revisor.config import Settings
from revisor.domain import ForgeKind
from revisor.errors import AuditWriteError
from revisor.secrets import KeyRing
from revisor.store import jobs, repos
from revisor.store.db import PerThread
from revisor.web import webhooks
from revisor.worker.queue import Queue

log = logging.getLogger("revisor.web.intake")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Intake:
    settings: Settings
    dbs: PerThread
    keys: KeyRing
    audit: AuditLog
    queue: Queue

    def handle(
        self,
        forge: ForgeKind,
        headers: Mapping[str, str],
        body: bytes,
        *,
        source: str,
        request_id: str,
    ) -> Answer:
        headers = {k.lower(): v for k, v in headers.items()}
        db = self.dbs.get()
        candidates = self._authenticate(forge, headers, body)
        if not candidates:
            return self._reject(forge, source, request_id, "signature or token missing or wrong")
        try:
            payload = webhooks.parse_json(body)
            event = self._event_name(forge, headers)
            classify = (
                webhooks.classify_gitlab if forge is ForgeKind.GITLAB else webhooks.classify_gitea
            )
            decision = classify(event, payload)
        except webhooks.PayloadError as exc:
            return Answer(400, {"error": str(exc)})
        repo = next((r for r in candidates if r.project.lower() == decision.project.lower()), None)
        if repo is None:
            return Answer(404, {"error": f"repository {decision.project!r} is not registered"})
        if not repo.enabled:
            decision = webhooks.Ignored(decision.project, "repository is disabled")
        key = webhooks.delivery_key(forge, headers, body)
        if isinstance(decision, webhooks.Ignored):
            intake = jobs.record_delivery(db, delivery_key=key, repo_id=repo.id, event=event)
            if intake.duplicate:
                return Answer(200, {"duplicate": True, "job_id": intake.job_id})
            return Answer(200, {"ignored": decision.reason})
        intake = jobs.record_delivery(
            db,
            delivery_key=key,
            repo_id=repo.id,
            event=event,
            mr_number=decision.mr_number,
            head_sha=decision.head_sha,
            trigger=decision.reason,
            request_id=request_id,
        )
        if intake.duplicate:
            return Answer(200, {"duplicate": True, "job_id": intake.job_id})
        if intake.job_id is None:  # a trigger always creates or joins a job
            raise RuntimeError("delivery recorded without a job")
        self._audit_job(repo.id, intake, decision, source)
        try:
            self.queue.enqueue(intake.job_id)
        except Exception as exc:  # the reaper will enqueue it; the job is safe in the table
            log.warning("enqueue of job %s failed, the reaper will retry: %s", intake.job_id, exc)
        return Answer(202, {"job_id": intake.job_id, "superseded": list(intake.superseded)})

    def _event_name(self, forge: ForgeKind, headers: Mapping[str, str]) -> str:
        if forge is ForgeKind.GITLAB:
            return headers.get("x-gitlab-event", "")
        return headers.get("x-forgejo-event") or headers.get("x-gitea-event", "")

    def _authenticate(
        self, forge: ForgeKind, headers: Mapping[str, str], body: bytes
    ) -> list[repos.Repo]:
        """Every registered repository of this forge whose secret the request proves."""
        db = self.dbs.get()
        matched = []
        now = time.time()
        for repo in repos.list_all(db):
            if repo.forge is not forge:
                continue
            secret = repos.load_secrets(db, self.keys, repo)
            if forge is ForgeKind.GITEA:
                ok = webhooks.verify_gitea_signature(headers, body, secret.webhook_secret)
            elif secret.signing_secret:
                ok = (
                    webhooks.verify_gitlab_signature(
                        headers,
                        body,
                        secret.signing_secret,
                        now=now,
                        tolerance=self.settings.server.signature_tolerance_seconds,
                    )
                    is None
                )
            else:
                ok = webhooks.verify_gitlab_token(
                    headers.get("x-gitlab-token"), secret.webhook_secret
                )
            if ok:
                matched.append(repo)
        return matched

    def _reject(self, forge: ForgeKind, source: str, request_id: str, reason: str) -> Answer:
        try:
            self.audit.record(
                Event.WEBHOOK_REJECTED,
                actor=f"forge:{forge.value}",
                target="webhook",
                outcome=Outcome.DENIED,
                source=source,
                reason=reason,
                request_id=request_id,
            )
        except AuditWriteError:
            log.error("audit write failed for a rejected webhook")
        return Answer(401, {"error": "unauthorized"})

    def _audit_job(
        self, repo_id: int, intake: jobs.Intake, trigger: webhooks.Trigger, source: str
    ) -> None:
        try:
            self.audit.record(
                Event.JOB_CREATED,
                actor=f"forge:{trigger.reason}",
                target=f"job:{intake.job_id}",
                source=source,
                repo_id=repo_id,
                mr=trigger.mr_number,
                head_sha=trigger.head_sha,
            )
            for old in intake.superseded:
                self.audit.record(
                    Event.JOB_SUPERSEDED,
                    actor="system:intake",
                    target=f"job:{old}",
                    superseded_by=intake.job_id,
                )
        except AuditWriteError:
            log.error("audit write failed for job %s", intake.job_id)
