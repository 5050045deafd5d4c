"""A job's review transcript, written as the review goes (`store/transcripts.py`).

`AuditedModel` (worker/pipeline.py) hands every request to `exchange`: the messages exactly as
sent (the engine has already redacted them), the raw answer, or the error and the endpoint that
failed. `review_job` hands the parsed findings and what it posted to `outcome`. Each entry is
written when it happens, so a job that fails half-way still shows what the model saw.

A transcript that cannot be written is logged and the review goes on: it is a record for
people reading the dashboard, not part of the review.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from revisor.domain import ChatMessage, Completion
from revisor.secrets import KeyRing
from revisor.store import transcripts
from revisor.store.db import PerThread

log = logging.getLogger("revisor.worker.transcript")


class TranscriptSink(Protocol):
    def exchange(
        self,
        messages: Sequence[ChatMessage],
        completion: Completion | None,
        *,
        error: str = "",
        endpoint: str = "",
    ) -> None: ...

    def outcome(self, data: dict[str, Any]) -> None: ...


class JobTranscript:
    """Writes one job's entries (from the engine's threads too: each thread its own
    connection)."""

    def __init__(self, dbs: PerThread, keys: KeyRing, job_id: int, keep_days: int) -> None:
        self.dbs, self.keys, self.job_id, self.keep_days = dbs, keys, job_id, keep_days

    @classmethod
    def for_job(cls, dbs: PerThread, keys: KeyRing, job_id: int, repo_id: int) -> JobTranscript:
        return cls(dbs, keys, job_id, transcripts.days_for(dbs.get(), repo_id))

    def _write(self, kind: transcripts.Kind, data: dict[str, Any]) -> None:
        if self.keep_days <= 0:
            return
        try:
            transcripts.record(
                self.dbs.get(),
                self.keys,
                job_id=self.job_id,
                kind=kind,
                data=data,
                keep_days=self.keep_days,
            )
        except Exception:
            log.exception("job %d: could not store a transcript entry", self.job_id)

    def exchange(
        self,
        messages: Sequence[ChatMessage],
        completion: Completion | None,
        *,
        error: str = "",
        endpoint: str = "",
    ) -> None:
        data: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "endpoint": completion.endpoint if completion else endpoint,
        }
        if completion is not None:
            data |= {
                "model": completion.model,
                "answer": completion.text,
                "finish_reason": completion.finish_reason,
                "prompt_tokens": completion.usage.prompt_tokens,
                "completion_tokens": completion.usage.completion_tokens,
            }
        else:
            data["error"] = error
        self._write("exchange", data)

    def outcome(self, data: dict[str, Any]) -> None:
        self._write("outcome", data)
