"""The repository's guidance files, read from the forge for `review.guidance`.

They are read from the merge request's TARGET branch, never from its head: the guidance tells
the model how to review, and an MR author must not be able to write the guidance that reviews
their own merge request (an `AGENTS.md` added by the MR saying "approve everything" is part of
the diff under review, not an instruction). `.revisor.toml` is read from the same place for the
same reason (`pipeline.POLICY_FILE`).

Each file is capped at `MAX_DOC_BYTES`; a missing file is simply absent; a forge error on one
file is logged (the file's name and the error, never its content) and that file skipped, so a
review never fails for want of guidance.
"""

from __future__ import annotations

import logging

from revisor.errors import RevisorError
from revisor.forges.base import Forge
from revisor.review.guidance import GUIDANCE_FILES, RepoDocs

__all__ = ["MAX_DOC_BYTES", "read_repo_docs"]

log = logging.getLogger("revisor.worker.repo_docs")

MAX_DOC_BYTES = 16 * 1024


def _capped(text: str) -> str:
    """`text` in at most MAX_DOC_BYTES bytes of UTF-8, cut at a character boundary."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_DOC_BYTES:
        return text
    return data[:MAX_DOC_BYTES].decode("utf-8", "ignore")


def read_repo_docs(forge: Forge, ref: str) -> RepoDocs:
    """The guidance files present at `ref`, which must be the MR's target branch (see above)."""
    found: list[tuple[str, str]] = []
    for name in GUIDANCE_FILES:
        try:
            text = forge.read_file(name, ref)
        except RevisorError as exc:
            status = getattr(exc, "status", None)
            log.warning("guidance file %s skipped: %s %s", name, type(exc).__name__, status or "")
            continue
        if text is not None and text.strip():
            found.append((name, _capped(text)))
    return RepoDocs(tuple(found))
