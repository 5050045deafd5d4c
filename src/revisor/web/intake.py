"""Webhook intake: verify, classify, dedup, persist the job, enqueue its id, answer.

Three steps, so that no request holds a thread while it waits for the disk:
- `check()` authenticates (before parsing), parses and classifies: CPU work and reads only; the
  route runs it on the event loop.
- `commit()` hands the delivery to the group commit (`store/groupcommit.py`): one writer thread
  records every delivery waiting at that moment in one transaction (synchronous=FULL) and their
  audit records in one more. The route awaits the returned future, so each request is answered
  only after its own rows are durable; the new job ids go onto the queue right after the
  answers. A lost enqueue is harmless: the reaper enqueues the job later.
- `conclude()` turns what was recorded into the answer.
`handle()` chains them synchronously, for tests and benchmarks without an HTTP server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from revisor.audit import AuditLog, AuditRecord, Event, Outcome
from revisor.config import Settings
from revisor.domain import ForgeKind
from revisor.errors import AuditWriteError
from revisor.secrets import KeyRing
from revisor.store import jobs, repos
from revisor.store.db import PerThread
from revisor.store.groupcommit import GroupCommitter
from revisor.web import webhooks
from revisor.worker.queue import Queue

log = logging.getLogger("revisor.web.intake")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """An authenticated, classified delivery, waiting to be recorded."""

    delivery: jobs.Delivery
    source: str
    ignored: str = ""  # the reason, when the delivery asks for no review


@dataclass(frozen=True)
class Rejected:
    """Authentication failed: audit it (a write), then answer 401."""

    forge: ForgeKind
    source: str
    request_id: str
    reason: str


@dataclass
class Intake:
    settings: Settings
    dbs: PerThread
    keys: KeyRing
    audit: AuditLog
    queue: Queue
    _writer: GroupCommitter[Accepted, jobs.Intake] = field(init=False, repr=False)
    # (repos version, every registered repository with its decrypted secrets). Rebuilt when
    # any repository row changes (added, removed, secret rotated, keys rotated).
    _registered: tuple[int, list[tuple[repos.Repo, repos.RepoSecrets]]] = field(
        init=False, repr=False, default=(-1, [])
    )

    def __post_init__(self) -> None:
        self._writer = GroupCommitter(self._commit, after=self._enqueue, name="intake-writer")

    def handle(
        self,
        forge: ForgeKind,
        headers: Mapping[str, str],
        body: bytes,
        *,
        source: str,
        request_id: str,
    ) -> Answer:
        """The whole intake of one delivery, synchronously (tests, benchmarks)."""
        checked = self.check(forge, headers, body, source=source, request_id=request_id)
        if isinstance(checked, Answer):
            return checked
        if isinstance(checked, Rejected):
            return self.reject(checked)
        return self.conclude(checked, self.commit(checked).result(timeout=30))

    def check(
        self,
        forge: ForgeKind,
        headers: Mapping[str, str],
        body: bytes,
        *,
        source: str,
        request_id: str,
    ) -> Answer | Rejected | Accepted:
        """Authenticate, parse and classify: CPU work and reads only, no write, no fsync.

        Returns the answer when there is nothing to record, `Rejected` (to audit, then 401),
        or `Accepted` (to commit, then answer)."""
        headers = {k.lower(): v for k, v in headers.items()}
        candidates = self._authenticate(forge, headers, body)
        if not candidates:
            return Rejected(forge, source, request_id, "signature or token missing or wrong")
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
            return Accepted(jobs.Delivery(key, repo.id, event), source, decision.reason)
        delivery = jobs.Delivery(
            key,
            repo.id,
            event,
            mr_number=decision.mr_number,
            head_sha=decision.head_sha,
            trigger=decision.reason,
            request_id=request_id,
        )
        return Accepted(delivery, source)

    def commit(self, accepted: Accepted) -> Future[jobs.Intake]:
        """Hand the delivery to the group commit; the future resolves once it is durable."""
        return self._writer.submit_nowait(accepted)

    @staticmethod
    def conclude(accepted: Accepted, intake: jobs.Intake) -> Answer:
        if intake.duplicate:
            return Answer(200, {"duplicate": True, "job_id": intake.job_id})
        if accepted.ignored:
            return Answer(200, {"ignored": accepted.ignored})
        return Answer(202, {"job_id": intake.job_id, "superseded": list(intake.superseded)})

    def _commit(self, batch: Sequence[Accepted]) -> list[jobs.Intake]:
        """Runs on the writer thread: every waiting delivery in one transaction, their audit
        records in one more."""
        results = jobs.record_deliveries(self.dbs.get(), [p.delivery for p in batch])
        records: list[AuditRecord] = []
        for accepted, intake in zip(batch, results, strict=True):
            if intake.created:
                records.append(self._job_created(accepted, intake))
            records += [
                AuditRecord(
                    Event.JOB_SUPERSEDED,
                    actor="system:intake",
                    target=f"job:{old}",
                    outcome=Outcome.SUCCESS,
                    details={"superseded_by": intake.job_id},
                )
                for old in intake.superseded
            ]
        if records:
            try:
                self.audit.append_many(records)
            except AuditWriteError:
                log.error("audit write failed for %d intake record(s)", len(records))
        return results

    def _enqueue(self, results: Sequence[jobs.Intake]) -> None:
        """After the answers: the new job ids onto the queue (a lost one is the reaper's)."""
        for intake in results:
            if intake.created and intake.job_id is not None:
                try:
                    self.queue.enqueue(intake.job_id)
                except Exception as exc:  # the reaper will enqueue it; the job row is safe
                    log.warning(
                        "enqueue of job %s failed, the reaper will retry: %s", intake.job_id, exc
                    )

    @staticmethod
    def _job_created(accepted: Accepted, intake: jobs.Intake) -> AuditRecord:
        d = accepted.delivery
        return AuditRecord(
            Event.JOB_CREATED,
            actor=f"forge:{d.trigger}",
            target=f"job:{intake.job_id}",
            outcome=Outcome.SUCCESS,
            source=accepted.source,
            details={"repo_id": d.repo_id, "mr": d.mr_number, "head_sha": d.head_sha},
        )

    def _event_name(self, forge: ForgeKind, headers: Mapping[str, str]) -> str:
        if forge is ForgeKind.GITLAB:
            return headers.get("x-gitlab-event", "")
        return headers.get("x-forgejo-event") or headers.get("x-gitea-event", "")

    def _authenticate(
        self, forge: ForgeKind, headers: Mapping[str, str], body: bytes
    ) -> list[repos.Repo]:
        """Every registered repository of this forge whose secret the request proves."""
        matched = []
        now = time.time()
        for repo, secret in self._registered_repos():
            if repo.forge is not forge:
                continue
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

    def _registered_repos(self) -> list[tuple[repos.Repo, repos.RepoSecrets]]:
        """The registered repositories and their secrets, decrypted once per change of the
        `repos` table instead of once per request (one small read tells whether it changed)."""
        db = self.dbs.get()
        current = repos.version(db)
        seen, registered = self._registered
        if seen != current:
            registered = [(r, repos.load_secrets(db, self.keys, r)) for r in repos.list_all(db)]
            self._registered = (current, registered)
        return registered

    def reject(self, rejected: Rejected) -> Answer:
        try:
            self.audit.record(
                Event.WEBHOOK_REJECTED,
                actor=f"forge:{rejected.forge.value}",
                target="webhook",
                outcome=Outcome.DENIED,
                source=rejected.source,
                reason=rejected.reason,
                request_id=rejected.request_id,
            )
        except AuditWriteError:
            log.error("audit write failed for a rejected webhook")
        return Answer(401, {"error": "unauthorized"})
