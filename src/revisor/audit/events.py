"""Typed audit events. The names are fixed: auditors write queries and alerts against them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Event(enum.StrEnum):
    SIGNIN_SUCCEEDED = "auth.signin.succeeded"
    SIGNIN_FAILED = "auth.signin.failed"
    SIGNOUT = "auth.signout"
    ROLE_GRANTED = "auth.role.granted"
    TOKEN_CREATED = "auth.token.created"  # noqa: S105 (an event name)
    TOKEN_REVOKED = "auth.token.revoked"  # noqa: S105 (an event name)
    TOKEN_REFUSED = "auth.token.refused"  # noqa: S105 (an event name)
    REPO_ADDED = "repo.added"
    REPO_REMOVED = "repo.removed"
    SERVER_ALLOWED = "server.allowed"
    SERVER_REMOVED = "server.removed"
    SECRET_CREATED = "secret.created"  # noqa: S105 (an event name)
    SECRET_ROTATED = "secret.rotated"  # noqa: S105 (an event name)
    WEBHOOK_REJECTED = "webhook.rejected"
    JOB_CREATED = "job.created"
    JOB_SUPERSEDED = "job.superseded"
    JOB_FAILED = "job.failed"
    JOB_RETRIED = "job.retried"
    JOB_CANCELLED = "job.cancelled"
    MODEL_REQUEST = "model.request"
    MODEL_PACK_FETCHED = "model.pack.fetched"
    COMMENT_POSTED = "forge.comment.posted"
    STATUS_SET = "forge.status.set"
    COMMAND_REFUSED = "forge.command.refused"
    REPLY_POSTED = "forge.reply.posted"
    THREAD_RESOLVED = "forge.thread.resolved"
    SUPPRESSION_ADDED = "suppression.added"
    SUPPRESSION_REMOVED = "suppression.removed"
    EGRESS_REFUSED = "egress.refused"
    CONFIG_CHANGED = "config.changed"
    AUDIT_EXPORTED = "audit.exported"
    KEYS_ROTATED = "keys.rotated"
    BACKUP_CREATED = "backup.created"
    BACKUP_RESTORED = "backup.restored"
    SUMMARY_POSTED = "forge.summary.posted"
    TRANSCRIPT_READ = "transcript.read"
    TRANSCRIPTS_PURGED = "transcript.purged"
    REPO_CHECKED = "repo.checked"
    HOOK_CREATED = "forge.hook.created"
    HOOK_TESTED = "forge.hook.tested"
    HOOK_REMOVED = "forge.hook.removed"


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


@dataclass(frozen=True)
class AuditRecord:
    """One event as handed to the audit log. `details` must never hold secrets or code."""

    event: Event
    actor: str  # "user:alice", "system:worker", "forge:gitlab"
    target: str  # "repo:3", "job:17", "user:bob"
    outcome: Outcome
    source: str = ""  # source address, when there is one
    details: dict[str, Any] = field(default_factory=dict)
