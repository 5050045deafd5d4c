"""Tamper-evident audit trail: typed events, hash chain, signed checkpoints, export, verify."""

from revisor.audit.events import AuditRecord, Event, Outcome
from revisor.audit.keys import SIGNING_KEY_NAME, Signer, ensure_signing_key
from revisor.audit.log import AuditLog

__all__ = [
    "SIGNING_KEY_NAME",
    "AuditLog",
    "AuditRecord",
    "Event",
    "Outcome",
    "Signer",
    "ensure_signing_key",
]
