"""What a review remembers, the I/O side (`review/memory.py` holds the pure rules).

`ReviewMemory.open()` is called by `review_job` once the merge request and its changes are
known. It decides the review's scope: incremental (only the files the pushes since the last
reviewed head touched), full (first review, `/revisor full-review`, a re-review of the same
head), or fallback (the last reviewed head left the history: force-push or rebase). Then:

- `collect_feedback()` turns thumbs-downs on Revisor's comments into suppressions (audited);
- `unsuppressed()` drops the findings people suppressed in this repository;
- `remember()` records what was posted (its model, for the acceptance rate) and the head;
- `resolve_fixed()` resolves Revisor's threads whose code a push changed or removed and that
  the new review no longer raises, with a one-line note naming the commit. A thread a person
  started is never touched; one a person replied to is resolved only with a note saying so.

A forge without the conversation side (tests' in-memory forge) gets plain full reviews.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from revisor.audit import AuditLog, Event
from revisor.domain import FileDiff, Finding, MergeRequest, ReviewResult, Thread
from revisor.errors import RevisorError
from revisor.forges.base import Conversations, Forge, ForgeRefused
from revisor.review import memory
from revisor.review.conversation import render_reply
from revisor.store import conversations, suppressions
from revisor.store.db import PerThread
from revisor.store.jobs import Job
from revisor.text.markers import find_fingerprint, reply_marker

log = logging.getLogger("revisor.worker.memory")

ACTOR = "system:worker"


@dataclass
class ReviewMemory:
    talk: Conversations | None
    store: PerThread
    audit: AuditLog
    job: Job
    mr: MergeRequest
    mode: str = "full"
    since: str = ""
    changed: tuple[str, ...] | None = None
    asked_full: bool = False
    threads: list[Thread] = field(default_factory=list)
    files_total: int = 0
    files_reviewed: int = 0

    @classmethod
    def open(
        cls, forge: Forge, store: PerThread, audit: AuditLog, job: Job, mr: MergeRequest
    ) -> ReviewMemory:
        talk = forge if isinstance(forge, Conversations) else None
        asked_full = job.trigger == "full-review"
        mem = cls(talk, store, audit, job, mr, asked_full=asked_full)
        if talk is None:
            return mem
        since = conversations.reviewed_head(store.get(), job.repo_id, mr.ref.number)
        if since and since != mr.head_sha:
            mem.since = since
            try:
                mem.changed = talk.changed_paths(mr, since)
            except ForgeRefused as exc:  # e.g. the old commit was garbage-collected
                log.info("cannot compare with %s, reviewing everything: %s", since[:12], exc)
                mem.mode = "uncompared"
            else:
                if mem.changed is None:
                    mem.mode = "fallback"
                elif not asked_full:
                    mem.mode = "incremental"
        mem.threads = talk.list_threads(mr)
        return mem

    @property
    def target(self) -> str:
        ref = self.mr.ref
        return f"{ref.forge.value}:{ref.project}!{ref.number}"

    def files(self, files: Sequence[FileDiff]) -> list[FileDiff]:
        """The files this review sends to the model."""
        self.files_total = len(files)
        chosen = (
            memory.files_to_review(files, self.changed or ())
            if self.mode == "incremental"
            else list(files)
        )
        self.files_reviewed = len(chosen)
        return chosen

    def _bot_threads(self) -> list[tuple[Thread, str]]:
        """Revisor's own finding threads, open, with their fingerprints."""
        found = []
        for t in self.threads:
            fp = find_fingerprint(t.notes[0].body) if t.notes else None
            if t.started_by_bot and fp and not t.resolved:
                found.append((t, fp))
        return found

    def collect_feedback(self) -> int:
        """Thumbs-downs on Revisor's comments become suppressions; how many were added."""
        if self.talk is None:
            return 0
        db = self.store.get()
        done, _ = suppressions.keys(db, self.job.repo_id)
        added = 0
        for thread, fp in self._bot_threads():
            if fp in done:
                continue
            bot = thread.notes[0].author
            down = self.talk.thumbs_down(self.mr, thread.notes[0].note_id)
            # Only a person the forge says can read the project counts: on a public or internal
            # project anyone signed in can award an emoji.
            who = next(
                (
                    name
                    for uid, name in down
                    if name and name != bot and self.talk.can_read(uid, name)
                ),
                None,
            )
            if who is not None and self.suppress(thread, fp, who, source="award", reason=""):
                added += 1
        return added

    def suppress(self, thread: Thread, fp: str, who: str, *, source: str, reason: str) -> bool:
        """Record a suppression of the finding of `thread` (and its verdict), audited."""
        db = self.store.get()
        repo, number = self.job.repo_id, self.mr.ref.number
        posted = suppressions.posted(db, repo, number, fp) or suppressions.Posted(
            fp, "", thread.notes[0].body.split("\n", 1)[0][:300], thread.path
        )

        def record(changed: bool) -> None:
            if changed:
                self.audit.record(
                    Event.SUPPRESSION_ADDED,
                    actor=f"forge-user:{who}",
                    target=f"repo:{repo}",
                    job_id=self.job.id,
                    mr=self.target,
                    fingerprint=fp,
                    similarity_key=posted.similarity_key,
                    source=source,
                    reason=reason[:200],
                )

        added = suppressions.add(
            db, repo, posted, reason=reason, source=source, created_by=who, before_commit=record
        )
        suppressions.set_verdict(db, repo, number, fp, "rejected")
        return added

    def unsuppressed(
        self, findings: Sequence[Finding], files: Sequence[FileDiff]
    ) -> tuple[tuple[Finding, ...], int]:
        fps, keys = suppressions.keys(self.store.get(), self.job.repo_id)
        return memory.split_suppressed(
            findings,
            fingerprints=fps,
            keys=keys,
            key_of=lambda f: memory.similarity_key(f.title, memory.line_text(files, f)),
        )

    def remember(
        self, posted: Sequence[Finding], files: Sequence[FileDiff], result: ReviewResult
    ) -> None:
        """Record the findings posted, and the head as reviewed when the review was whole."""
        db = self.store.get()
        rows = []
        for f in posted:
            text = memory.line_text(files, f)
            rows.append(
                suppressions.Posted(
                    f.fingerprint,
                    memory.similarity_key(f.title, text),
                    f.title,
                    f.path,
                    memory.line_key(text),
                    result.model,
                )
            )
        suppressions.record_posted(
            db, self.job.repo_id, self.mr.ref.number, rows, job_id=self.job.id
        )
        if not result.partial and self.talk is not None:
            conversations.set_reviewed_head(
                db, self.job.repo_id, self.mr.ref.number, self.mr.head_sha, self.job.id
            )

    def resolve_fixed(self, forge: Forge, result: ReviewResult) -> int:
        """Resolve Revisor's threads whose code changed since the last review and which the
        new review does not raise again; how many were resolved."""
        if self.talk is None or not self.changed:
            return 0
        db, resolved = self.store.get(), 0
        for thread, fp in self._bot_threads():
            if thread.path not in self.changed:
                continue
            posted = suppressions.posted(db, self.job.repo_id, self.mr.ref.number, fp)
            if posted is None or not posted.line_key:
                continue  # posted before Revisor remembered lines: leave it to people
            try:
                text = forge.read_file(thread.path, self.mr.head_sha)
            except RevisorError as exc:  # unknown is not "gone": leave the thread open
                log.info("could not read %s for auto-resolve: %s", thread.path, exc)
                continue
            if memory.line_still_there(text, posted.line_key):
                continue
            if any(
                memory.same_finding(f.path, f.title, posted.path, posted.title)
                for f in result.findings
            ):
                continue  # the model still raises it on the new code
            if self._resolve(self.talk, thread, fp):
                resolved += 1
        return resolved

    def _resolve(self, talk: Conversations, thread: Thread, fp: str) -> bool:
        people = sorted({n.author for n in thread.notes if not n.by_bot})
        commit = self.mr.head_sha[:12]
        note = f"Resolved by Revisor: the code of this finding changed in `{commit}`."
        if people:
            note += " People replied in this thread; reopen it if the discussion is not over."
        key = f"resolve:{thread.thread_id}:{self.mr.head_sha}"
        if not any(reply_marker(key) in n.body for n in thread.notes):
            talk.reply(self.mr, thread, render_reply(note, reply_marker(key)))
        done = talk.resolve(self.mr, thread)
        suppressions.set_verdict(
            self.store.get(), self.job.repo_id, self.mr.ref.number, fp, "accepted"
        )
        self.audit.record(
            Event.THREAD_RESOLVED,
            actor=ACTOR,
            target=self.target,
            job_id=self.job.id,
            thread=thread.thread_id,
            fingerprint=fp,
            commit=commit,
            resolved=done,
            replied=bool(people),
        )
        return done

    def coverage(self, *, suppressed: int, resolved: int) -> memory.Coverage:
        return memory.Coverage(
            mode=self.mode,
            head_sha=self.mr.head_sha,
            since_sha=self.since,
            files_reviewed=self.files_reviewed,
            files_total=self.files_total,
            suppressed=suppressed,
            resolved=resolved,
            asked=self.asked_full,
        )
