"""The webhook side of the forge seam: what the web layer asks a forge about a delivery.

A forge's hooks module (`forges/gitlab/hooks.py`, `forges/gitea/hooks.py`) implements
`ForgeHooks`: authenticate a delivery against one repository's secrets (before the body is
parsed), name its event, classify its payload into a `Trigger` (review this merge request at this
head) or an `Ignored` reason, and give its dedup key. `forges.hooks_for(kind)` picks the module;
the web layer never branches on the forge kind.

Classification never trusts URLs inside the payload: only the project path is used, to match the
registered repository. Shared here: the payload types, the JSON parsing and the small readers
both forges' classifiers use.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from revisor.domain import ForgeKind

# One line, like a quick action. `[^\S\n]` (whitespace but newline) keeps each try within its
# line: with `\s*` every line start rescanned all the blank lines after it, quadratic in a
# comment of newlines (1.8 s for 40,000 of them; bench/pathological.py).
COMMAND_RE = re.compile(r"^[^\S\n]*/revisor[^\S\n]+review\b", re.IGNORECASE | re.MULTILINE)
SHA_RE = re.compile(r"^[0-9a-f]{7,64}$")


class PayloadError(ValueError):
    """The body is not a webhook payload we can read; the message says why (sent back as 400)."""


MAX_MESSAGE = 8000  # characters of a comment kept with its job (a question, a reply)


@dataclass(frozen=True)
class Message:
    """The comment a job answers (a command, a reply in a thread, a mention of the bot)."""

    note_id: str
    thread_id: str  # GitLab's discussion id; "" where the hook does not say (Gitea)
    author: str
    author_id: str
    body: str


@dataclass(frozen=True)
class Trigger:
    project: str
    mr_number: int
    head_sha: str  # "" when the event does not carry it (the worker resolves the current head)
    reason: str  # "open", "reopen", "update", "command", "full-review", "ask", "ignore",
    # "help", "reply", "mention"
    message: Message | None = None  # the comment, for a trigger that came from one


@dataclass(frozen=True)
class Ignored:
    project: str
    reason: str


class ForgeHooks(Protocol):
    """One forge's webhook rules. Pure functions of the headers (lower-cased names), the raw
    body and one repository's secrets; no I/O."""

    @property
    def kind(self) -> ForgeKind: ...

    @property
    def signs_deliveries(self) -> bool:
        """Whether the forge can sign deliveries with a separate signing secret."""
        ...

    def verify(
        self,
        headers: Mapping[str, str],
        body: bytes,
        webhook_secret: str,
        signing_secret: str | None,
        *,
        now: float,
        tolerance: float,
    ) -> str | None:
        """ONE secret check: None when it holds, else why not (a fixed phrase, safe to audit)."""
        ...

    def event(self, headers: Mapping[str, str]) -> str:
        """The event name the forge put in its headers ("" when none)."""
        ...

    def classify(self, event: str, payload: Mapping[str, Any]) -> Trigger | Ignored:
        """What the delivery asks for; `PayloadError` when the payload cannot be read."""
        ...

    def delivery_key(self, headers: Mapping[str, str], body: bytes, *, signed: bool) -> str:
        """The dedup key of an authenticated delivery (`signed`: it was proven by a signing
        secret, not a plain token); a replay with the same key changes nothing."""
        ...


@dataclass(frozen=True)
class ModuleHooks:
    """`ForgeHooks` over one forge's hooks module. Its functions are looked up at each call, so
    a test can wrap one (`monkeypatch.setattr(forges.gitlab.hooks, "verify", spy)`)."""

    kind: ForgeKind
    signs_deliveries: bool
    module: ModuleType

    def verify(
        self,
        headers: Mapping[str, str],
        body: bytes,
        webhook_secret: str,
        signing_secret: str | None,
        *,
        now: float,
        tolerance: float,
    ) -> str | None:
        check: Callable[..., str | None] = self.module.verify
        return check(headers, body, webhook_secret, signing_secret, now=now, tolerance=tolerance)

    def event(self, headers: Mapping[str, str]) -> str:
        name: Callable[[Mapping[str, str]], str] = self.module.event
        return name(headers)

    def classify(self, event: str, payload: Mapping[str, Any]) -> Trigger | Ignored:
        decide: Callable[[str, Mapping[str, Any]], Trigger | Ignored] = self.module.classify
        return decide(event, payload)

    def delivery_key(self, headers: Mapping[str, str], body: bytes, *, signed: bool) -> str:
        key: Callable[..., str] = self.module.delivery_key
        return key(headers, body, signed=signed)


# --- helpers the forges' hooks modules share ---------------------------------------------------


def equal(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison of two secrets or MACs."""
    a_b = a.encode() if isinstance(a, str) else a
    b_b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_b, b_b)


def body_bound_key(
    kind: ForgeKind, headers: Mapping[str, str], names: tuple[str, ...], body: bytes
) -> str:
    """A dedup key for an id no signature covers: the first id header present plus
    sha256(body), so a forged header cannot make a different delivery look like a replay; no id:
    sha256(body) alone."""
    digest = hashlib.sha256(body).hexdigest()
    for name in names:
        value = headers.get(name, "").strip()
        if value:
            return f"{kind.value}:{value[:160]}:sha256:{digest}"
    return f"{kind.value}:sha256:{digest}"


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    return payload


def obj(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PayloadError(f"{what} must be a positive integer")
    return value


def ident(value: Any) -> str:
    """An id from a payload as text: a positive integer or a short hex/word string, else ""."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9A-Za-z_-]{1,64}", value):
        return value
    return ""


def message(note_id: Any, thread_id: Any, author: Any, author_id: Any, body: str) -> Message:
    return Message(ident(note_id), ident(thread_id), text(author)[:255], ident(author_id),
                   body[:MAX_MESSAGE])  # fmt: skip


def sha(value: Any) -> str:
    found = text(value).lower()
    return found if SHA_RE.match(found) else ""
