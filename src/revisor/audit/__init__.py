"""Tamper-evident audit trail: typed events, hash chain, signed checkpoints, export, verify."""

from revisor.audit.events import AuditRecord, Event, Outcome
from revisor.audit.log import AuditLog

__all__ = ["AuditLog", "AuditRecord", "Event", "Outcome"]
