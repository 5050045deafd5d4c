"""Webhook intake: verify, classify, dedup, persist the job, enqueue its id, answer.

Three steps, so that no request holds a thread while it waits for the disk:
- `check()` authenticates (before parsing), parses and classifies by the forge's own rules
  (`forges.hooks_for`): CPU work and reads only; the route runs it on the event loop. A
  repository's own hook URL (`/hooks/<forge>/<hook_key>`) names the one secret to check; the
  legacy `/hooks/<forge>` tries every repository of that forge. A source address that sent too
  many rejected deliveries is answered 429 before any secret is checked (`web/rejections.py`).
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
from revisor.forges import Ignored, PayloadError, hooks_for
from revisor.forges.hooks import Message, parse_json
from revisor.secrets import KeyRing
from revisor.store import jobs, repos
from revisor.store.conversations import JobMessage
from revisor.store.db import PerThread
from revisor.store.groupcommit import GroupCommitter
from revisor.web.rejections import Rejected, RejectionAudit, RejectionLimiter
from revisor.worker.queue import Queue

CLAIM_PARSE_LIMIT = 256 * 1024  # bytes of a refused delivery parsed to name its repository

log = logging.getLogger("revisor.web.intake")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """An authenticated, classified delivery, waiting to be recorded."""

    delivery: jobs.Delivery
    source: str
    ignored: str = ""  # the reason, when the delivery asks for no review


__all__ = ["Accepted", "Answer", "Rejected", "WebhookIntake"]

_REFUSALS = {
    401: {"error": "unauthorized"},
    404: {"error": "unknown hook URL"},
    429: {"error": "too many rejected deliveries from this address; retry later"},
}

# A repository with its decrypted secrets.
_Registered = tuple[repos.Repo, repos.RepoSecrets]


@dataclass(frozen=True)
class _Cache:
    """What the intake knows of `repos` at one version of it."""

    version: int = -1
    all: tuple[_Registered, ...] = ()
    by_hook_key: dict[str, _Registered] = field(default_factory=dict)  # keys are unique


def _job_message(message: Message | None) -> JobMessage | None:
    if message is None:
        return None
    m = message
    return JobMessage(m.note_id, m.thread_id, m.author, m.author_id, m.body)


@dataclass
class WebhookIntake:
    """The webhook intake of one web process (`web/resources.py` builds it once)."""

    settings: Settings
    dbs: PerThread
    keys: KeyRing
    audit: AuditLog
    queue: Queue
    limiter: RejectionLimiter = field(default_factory=RejectionLimiter)
    rejections: RejectionAudit = field(default_factory=RejectionAudit)
    _writer: GroupCommitter[Accepted, jobs.Intake] = field(init=False, repr=False)
    # Every registered repository with its decrypted secrets, rebuilt when any repository row
    # changes (added, removed, secret rotated, keys rotated).
    _registered: _Cache = field(init=False, repr=False, default_factory=_Cache)

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
        hook_key: str | None = None,
    ) -> Answer:
        """The whole intake of one delivery, synchronously (tests, benchmarks)."""
        checked = self.check(
            forge, headers, body, source=source, request_id=request_id, hook_key=hook_key
        )
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
        hook_key: str | None = None,
    ) -> Answer | Rejected | Accepted:
        """Authenticate, parse and classify: CPU work and reads only, no write, no fsync.

        `hook_key` is the last part of a repository's own hook URL; None for the legacy URL.
        Returns the answer when there is nothing to record, `Rejected` (to audit, then
        401/404/429), or `Accepted` (to commit, then answer)."""
        wait = self.limiter.retry_after(source)
        if wait:
            return Rejected(forge, source, request_id, "rate limited", 429, retry_after=wait)
        headers = {k.lower(): v for k, v in headers.items()}
        candidates = (
            self._authenticate_any(forge, headers, body, source, request_id)
            if hook_key is None
            else self._authenticate_one(forge, hook_key, headers, body, source, request_id)
        )
        if isinstance(candidates, Rejected):
            return candidates
        hooks = hooks_for(forge)
        try:
            payload = parse_json(body)
            event = hooks.event(headers)
            decision = hooks.classify(event, payload)
        except PayloadError as exc:
            return Answer(400, {"error": str(exc)})
        found = next(
            ((r, s) for r, s in candidates if r.project.lower() == decision.project.lower()), None
        )
        if found is None:
            where = "registered" if hook_key is None else "registered at this hook URL"
            return Answer(404, {"error": f"repository {decision.project!r} is not {where}"})
        repo, secrets = found
        if not repo.enabled:
            decision = Ignored(decision.project, "repository is disabled")
        key = hooks.delivery_key(headers, body, signed=bool(secrets.signing_secret))
        if isinstance(decision, Ignored):
            return Accepted(jobs.Delivery(key, repo.id, event), source, decision.reason)
        delivery = jobs.Delivery(
            key,
            repo.id,
            event,
            mr_number=decision.mr_number,
            head_sha=decision.head_sha,
            trigger=decision.reason,
            request_id=request_id,
            message=_job_message(decision.message),
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
        records += self.rejections.due()  # sums of rejected deliveries whose window closed
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

    def _check_secret(
        self, forge: ForgeKind, headers: Mapping[str, str], body: bytes, secret: repos.RepoSecrets
    ) -> str | None:
        """One secret check (None: it holds, else why not)."""
        return hooks_for(forge).verify(
            headers,
            body,
            secret.webhook_secret,
            secret.signing_secret,
            now=time.time(),
            tolerance=self.settings.server.signature_tolerance_seconds,
        )

    def _authenticate_one(
        self,
        forge: ForgeKind,
        hook_key: str,
        headers: Mapping[str, str],
        body: bytes,
        source: str,
        request_id: str,
    ) -> list[_Registered] | Rejected:
        """A repository's own hook URL: its secret, and no other, is checked."""
        found = self._registered_repos().by_hook_key.get(hook_key)
        if found is None or found[0].forge is not forge:  # no secret work for an unknown key
            return self._refuse(forge, source, request_id, "unknown hook URL", 404)
        reason = self._check_secret(forge, headers, body, found[1])
        if reason is not None:
            return self._refuse(
                forge,
                source,
                request_id,
                reason,
                target=f"repo:{found[0].id}",
                project=found[0].project,
            )
        return [found]

    def _authenticate_any(
        self,
        forge: ForgeKind,
        headers: Mapping[str, str],
        body: bytes,
        source: str,
        request_id: str,
    ) -> list[_Registered] | Rejected:
        """The legacy URL: every registered repository of this forge whose secret the request
        proves (one secret check per repository of the forge)."""
        proven = [
            (repo, secret)
            for repo, secret in self._registered_repos().all
            if repo.forge is forge and self._check_secret(forge, headers, body, secret) is None
        ]
        if proven:
            return proven
        return self._refuse(forge, source, request_id, project=self._claimed(forge, headers, body))

    def _claimed(self, forge: ForgeKind, headers: Mapping[str, str], body: bytes) -> str:
        """Which registered repository a refused legacy-URL delivery says it is for, so the
        admin knows whose secret is wrong. Unproven, so labelled as claimed; only a registered
        project is named (no text of the sender's choosing reaches the trail); big bodies are
        not parsed for it."""
        if len(body) > CLAIM_PARSE_LIMIT:
            return ""
        hooks = hooks_for(forge)
        try:
            claimed = hooks.classify(hooks.event(headers), parse_json(body)).project.lower()
        except PayloadError:
            return ""
        for repo, _ in self._registered_repos().all:
            if repo.forge is forge and repo.project.lower() == claimed:
                return f"{repo.project} (claimed by the payload)"
        return ""

    def _refuse(
        self,
        forge: ForgeKind,
        source: str,
        request_id: str,
        reason: str = "signature or token missing or wrong",
        status: int = 401,
        target: str = "webhook",
        project: str = "",
    ) -> Rejected:
        """An unauthenticated delivery: it spends the source address's allowance."""
        self.limiter.charge(source)
        return Rejected(forge, source, request_id, reason, status, target, project=project)

    def _registered_repos(self) -> _Cache:
        """The registered repositories and their secrets, decrypted once per change of the
        `repos` table instead of once per request (one small read tells whether it changed)."""
        db = self.dbs.get()
        current = repos.version(db)
        cache = self._registered
        if cache.version != current:
            found = tuple((r, repos.load_secrets(db, self.keys, r)) for r in repos.list_all(db))
            by_key = {r.hook_key: (r, s) for r, s in found if r.hook_key}
            cache = self._registered = _Cache(current, found, by_key)
        return cache

    def reject(self, rejected: Rejected) -> Answer:
        """Audit a refused delivery (summed per window, see `RejectionAudit`), then answer."""
        self.write_audit(self.rejections.note(rejected))
        return self.refusal(rejected)

    @staticmethod
    def refusal(rejected: Rejected) -> Answer:
        headers = {}
        if rejected.retry_after:
            headers["retry-after"] = str(max(1, round(rejected.retry_after)))
        return Answer(rejected.status, dict(_REFUSALS[rejected.status]), headers)

    def write_audit(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        try:
            self.audit.append_many(records)
        except AuditWriteError:
            log.error("audit write failed for %d rejected-webhook record(s)", len(records))

    @property
    def writer_running(self) -> bool:
        return self._writer.running

    def close(self) -> None:
        """At shutdown: what is waiting is committed and the writer thread stops, then the open
        sums of rejected deliveries go to the audit log."""
        self._writer.close()
        self.write_audit(self.rejections.flush())
