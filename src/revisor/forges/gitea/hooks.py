"""Gitea's and Forgejo's webhooks: authentication, classification, dedup key (`ForgeHooks`).

`X-Gitea-Signature` / `X-Forgejo-Signature` = hex HMAC-SHA256 of the raw body with the webhook
secret; Forgejo sends both header families, and when its own is present it is the one that
counts. The signature covers the body only, so `X-*-Delivery` ids are bound to the body in the
dedup key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
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

WIP_RE = re.compile(r"^\s*(\[wip\]|wip:|draft:|\[draft\]|\(draft\))", re.IGNORECASE)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    signature = headers.get("x-forgejo-signature") or headers.get("x-gitea-signature") or ""
    if not secret or not signature:
        return False
    return equal(signature.strip().lower(), sign(secret, body))


def verify(
    headers: Mapping[str, str],
    body: bytes,
    webhook_secret: str,
    signing_secret: str | None,
    *,
    now: float,
    tolerance: float,
) -> str | None:
    """HMAC of the body with the webhook secret (Gitea has no separate signing secret)."""
    ok = verify_signature(headers, body, webhook_secret)
    return None if ok else "signature missing or wrong"


def delivery_key(headers: Mapping[str, str], body: bytes, *, signed: bool) -> str:
    """`X-Forgejo-Delivery` / `X-Gitea-Delivery` plus sha256(body): the HMAC does not cover
    the id, whatever `signed` says."""
    return body_bound_key(
        ForgeKind.GITEA, headers, ("x-forgejo-delivery", "x-gitea-delivery"), body
    )


def event(headers: Mapping[str, str]) -> str:
    return headers.get("x-forgejo-event") or headers.get("x-gitea-event", "")


def classify(event: str, payload: Mapping[str, Any]) -> Trigger | Ignored:
    """Gitea/Forgejo `X-Gitea-Event` (or `X-Forgejo-Event`) + payload -> what to do."""
    project = text(obj(payload, "repository").get("full_name"))
    if not project:
        raise PayloadError("payload has no repository.full_name")
    action = text(payload.get("action"))
    if event == "pull_request":
        pr = obj(payload, "pull_request")
        pr_number = number(payload.get("number") or pr.get("number"), "number")
        if pr.get("draft") is True or WIP_RE.match(text(pr.get("title"))):
            return Ignored(project, "work-in-progress pull request")
        if text(pr.get("state")) not in {"", "open"}:
            return Ignored(project, f"pull request is {pr.get('state')}")
        head = sha(obj(pr, "head").get("sha"))
        reasons = {"opened": "open", "reopened": "reopen", "synchronized": "update"}
        if action in reasons:
            return Trigger(project, pr_number, head, reasons[action])
        return Ignored(project, f"pull request action {action or 'missing'!r}")
    if event == "issue_comment":
        issue = obj(payload, "issue")
        if not (payload.get("is_pull") is True or issue.get("pull_request")):
            return Ignored(project, "comment is not on a pull request")
        if action != "created":
            return Ignored(project, f"comment action {action or 'missing'!r}")
        return _classify_comment(project, payload, issue)
    return Ignored(project, f"event {event or 'unknown'!r} is not reviewed")


def _classify_comment(
    project: str, payload: Mapping[str, Any], issue: Mapping[str, Any]
) -> Trigger | Ignored:
    """A comment on a pull request: a `/revisor` command, or any other comment, which may be a
    reply in a Revisor conversation or a mention of the bot (Gitea's hook does not say which
    review a comment belongs to: the worker looks). Revisor's own comments are not."""
    comment = obj(payload, "comment")
    body = text(comment.get("body"))
    if is_own_note(body):
        return Ignored(project, "comment written by Revisor")
    sender = obj(payload, "sender") or obj(comment, "user")
    said = message(comment.get("id"), "", sender.get("login"), sender.get("id"), body)
    command = parse_command(body)
    pr_number = number(issue.get("number"), "issue.number")
    if command is not None:
        return Trigger(project, pr_number, "", command.trigger, said)
    if not body.strip():
        return Ignored(project, "comment has no /revisor command")
    return Trigger(project, pr_number, "", "reply", said)


HOOKS = ModuleHooks(ForgeKind.GITEA, signs_deliveries=False, module=sys.modules[__name__])
