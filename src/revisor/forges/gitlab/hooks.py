"""GitLab's webhooks: authentication, event classification and the dedup key (`ForgeHooks`).

`X-Gitlab-Token` carries the plain secret, compared in constant time. Signed webhooks (Standard
Webhooks format) carry `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64
HMAC-SHA256 of "{id}.{timestamp}.{body}">`; a repository with a signing secret accepts only
those (a plain token is then refused).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import sys
from collections.abc import Mapping
from typing import Any

from revisor.domain import ForgeKind
from revisor.forges.hooks import (
    Ignored,
    ModuleHooks,
    PayloadError,
    Trigger,
    body_bound_key,
    equal,
    message,
    number,
    obj,
    sha,
    text,
)
from revisor.text.commands import is_own_note, parse_command


def verify_token(header: str | None, secret: str) -> bool:
    if not secret or not header:
        return False
    return equal(header, secret)


def _signing_key(secret: str) -> bytes:
    """Standard Webhooks secrets look like `whsec_<base64>`; anything else is used as is."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def sign(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The `webhook-signature` value GitLab sends (used by tests and the intake benchmark)."""
    mac = hmac.new(_signing_key(secret), f"{webhook_id}.{timestamp}.".encode() + body, "sha256")
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify_signature(
    headers: Mapping[str, str], body: bytes, secret: str, *, now: float, tolerance: float
) -> str | None:
    """None when the signature holds, else the reason it does not."""
    if not secret:
        return "no signing secret configured"
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not webhook_id or not timestamp or not signatures:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        ts = int(timestamp)
    except ValueError:
        return "webhook-timestamp is not a number"
    # Compared, not subtracted: `now - ts` raised OverflowError (a 500) on a 309-digit timestamp.
    if not now - tolerance <= ts <= now + tolerance:
        return "webhook-timestamp outside the allowed clock skew"
    expected = sign(secret, webhook_id, timestamp, body).encode()
    ok = False
    for candidate in signatures.split():
        if not candidate.startswith("v1,"):
            continue  # unknown algorithm versions are skipped, not trusted
        ok |= hmac.compare_digest(candidate.encode(), expected)
    return None if ok else "signature does not match"


def verify(
    headers: Mapping[str, str],
    body: bytes,
    webhook_secret: str,
    signing_secret: str | None,
    *,
    now: float,
    tolerance: float,
) -> str | None:
    """With a signing secret: the Standard Webhooks signature only. Without one: the plain
    token, compared in constant time."""
    if signing_secret:
        return verify_signature(headers, body, signing_secret, now=now, tolerance=tolerance)
    ok = verify_token(headers.get("x-gitlab-token"), webhook_secret)
    return None if ok else "token missing or wrong"


def delivery_key(headers: Mapping[str, str], body: bytes, *, signed: bool) -> str:
    """The rule: a delivery id counts on its own only when the signature covers it.

    - `signed`: `webhook-id` is part of the signed `{webhook-id}.{webhook-timestamp}.{body}`, so
      only the secret's holder chose it and GitLab keeps it across retries: the key is that id.
    - `Idempotency-Key` / `X-Gitlab-Event-UUID` beside a plain token: the id plus sha256(body).
    - No id: sha256(body).
    """
    if signed and (webhook_id := headers.get("webhook-id", "").strip()):
        return f"{ForgeKind.GITLAB.value}:{webhook_id[:200]}"
    return body_bound_key(
        ForgeKind.GITLAB, headers, ("idempotency-key", "x-gitlab-event-uuid"), body
    )


def event(headers: Mapping[str, str]) -> str:
    return headers.get("x-gitlab-event", "")


def classify(event: str, payload: Mapping[str, Any]) -> Trigger | Ignored:
    """GitLab `X-Gitlab-Event` + payload -> what to do. Tolerates older GitLab payloads."""
    project = text(obj(payload, "project").get("path_with_namespace"))
    if not project:
        raise PayloadError("payload has no project.path_with_namespace")
    kind = text(payload.get("object_kind"))
    attrs = obj(payload, "object_attributes")
    if kind == "merge_request" or event == "Merge Request Hook":
        iid = number(attrs.get("iid"), "object_attributes.iid")
        head = sha(obj(attrs, "last_commit").get("id"))
        action = text(attrs.get("action"))
        if attrs.get("draft") is True or attrs.get("work_in_progress") is True:
            return Ignored(project, "draft merge request")
        if text(attrs.get("state")) not in {"", "opened"}:
            return Ignored(project, f"merge request is {attrs.get('state')}")
        if action in {"open", "reopen"}:
            return Trigger(project, iid, head, action)
        # "update" covers pushes and edits alike; only new commits (oldrev) warrant a review.
        # Some GitLab versions omit the action entirely: oldrev is the signal there too.
        if action in {"update", ""} and sha(attrs.get("oldrev")):
            return Trigger(project, iid, head, "update")
        if action == "update":
            return Ignored(project, "update without new commits")
        return Ignored(project, f"merge request action {action or 'missing'!r}")
    if kind == "note" or event == "Note Hook":
        return _classify_note(project, payload, attrs)
    if kind == "emoji" or event == "Emoji Hook":
        return _classify_emoji(project, payload, attrs)
    return Ignored(project, f"event {event or kind or 'unknown'!r} is not reviewed")


def _classify_note(
    project: str, payload: Mapping[str, Any], attrs: Mapping[str, Any]
) -> Trigger | Ignored:
    """A comment on a merge request: a `/revisor` command, a reply in a thread (the worker
    checks that the thread is Revisor's), or a possible mention of the bot (the worker checks
    the name). Revisor's own notes (they carry its hidden markers) and system notes are not."""
    if text(attrs.get("noteable_type")) != "MergeRequest":
        return Ignored(project, "comment is not on a merge request")
    body = text(attrs.get("note"))
    if attrs.get("system") is True or is_own_note(body):
        return Ignored(project, "comment written by Revisor or the system")
    mr = obj(payload, "merge_request")
    user = obj(payload, "user")
    said = message(
        attrs.get("id"),
        attrs.get("discussion_id"),
        user.get("username"),
        user.get("id") or attrs.get("author_id"),
        body,
    )
    command = parse_command(body)
    if command is not None:
        iid = number(mr.get("iid"), "merge_request.iid")
        wants_review = command.trigger in {"command", "full-review"}
        head = sha(obj(mr, "last_commit").get("id")) if wants_review else ""
        return Trigger(project, iid, head, command.trigger, said)
    if text(attrs.get("type")) in {"DiffNote", "DiscussionNote"} and said.thread_id:
        return Trigger(project, number(mr.get("iid"), "merge_request.iid"), "", "reply", said)
    if "@" in body:
        return Trigger(project, number(mr.get("iid"), "merge_request.iid"), "", "mention", said)
    return Ignored(project, "comment has no /revisor command")


def _classify_emoji(
    project: str, payload: Mapping[str, Any], attrs: Mapping[str, Any]
) -> Trigger | Ignored:
    """A thumbs-down awarded on a note of a merge request: feedback the worker checks against
    the forge (the award, the note being Revisor's, the user's access) before it counts."""
    if text(attrs.get("action")) != "award" or text(attrs.get("name")) != "thumbsdown":
        return Ignored(project, "only a thumbs-down award is feedback")
    note = obj(payload, "note")
    if text(attrs.get("awardable_type")) != "Note" or text(note.get("noteable_type")) != (
        "MergeRequest"
    ):
        return Ignored(project, "award is not on a merge request comment")
    user = obj(payload, "user")
    said = message(
        attrs.get("awardable_id"),
        note.get("discussion_id"),
        user.get("username"),
        user.get("id") or attrs.get("user_id"),
        "",
    )
    iid = number(obj(payload, "merge_request").get("iid"), "merge_request.iid")
    return Trigger(project, iid, "", "feedback", said)


HOOKS = ModuleHooks(ForgeKind.GITLAB, signs_deliveries=True, module=sys.modules[__name__])
