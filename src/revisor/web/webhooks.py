"""Webhook authentication and classification: pure functions over headers and raw bytes.

Authentication happens before the body is parsed. Classification turns a parsed payload into a
`Trigger` (review this MR at this head) or an `Ignored` reason; it never trusts URLs inside the
payload (only the project path is used, to match the registered repository).

GitLab: `X-Gitlab-Token` carries the plain secret; signed webhooks (Standard Webhooks format)
carry `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`. Gitea/Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature` = hex
HMAC-SHA256 of the raw body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from revisor.domain import ForgeKind

# One line, like a quick action. `[^\S\n]` (whitespace but newline) keeps each try within its
# line: with `\s*` every line start rescanned all the blank lines after it, quadratic in a
# comment of newlines (1.8 s for 40,000 of them; bench/pathological.py).
COMMAND_RE = re.compile(r"^[^\S\n]*/revisor[^\S\n]+review\b", re.IGNORECASE | re.MULTILINE)
WIP_RE = re.compile(r"^\s*(\[wip\]|wip:|draft:|\[draft\]|\(draft\))", re.IGNORECASE)
SHA_RE = re.compile(r"^[0-9a-f]{7,64}$")


class PayloadError(ValueError):
    """The body is not a webhook payload we can read; the message says why (sent back as 400)."""


@dataclass(frozen=True)
class Trigger:
    project: str
    mr_number: int
    head_sha: str  # "" when the event does not carry it (the worker resolves the current head)
    reason: str  # "open", "reopen", "update", "command"


@dataclass(frozen=True)
class Ignored:
    project: str
    reason: str


# --- authentication ---------------------------------------------------------------------------


def _eq(a: str | bytes, b: str | bytes) -> bool:
    a_b = a.encode() if isinstance(a, str) else a
    b_b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_b, b_b)


def verify_gitlab_token(header: str | None, secret: str) -> bool:
    if not secret or not header:
        return False
    return _eq(header, secret)


def _signing_key(secret: str) -> bytes:
    """Standard Webhooks secrets look like `whsec_<base64>`; anything else is used as is."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def sign_gitlab(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The `webhook-signature` value GitLab sends (used by tests and the intake benchmark)."""
    mac = hmac.new(_signing_key(secret), f"{webhook_id}.{timestamp}.".encode() + body, "sha256")
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify_gitlab_signature(
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
    expected = sign_gitlab(secret, webhook_id, timestamp, body).encode()
    ok = False
    for candidate in signatures.split():
        if not candidate.startswith("v1,"):
            continue  # unknown algorithm versions are skipped, not trusted
        ok |= hmac.compare_digest(candidate.encode(), expected)
    return None if ok else "signature does not match"


def sign_gitea(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_gitea_signature(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    # Forgejo sends both headers; when its own is present, it is the one that counts.
    signature = headers.get("x-forgejo-signature") or headers.get("x-gitea-signature") or ""
    if not secret or not signature:
        return False
    return _eq(signature.strip().lower(), sign_gitea(secret, body))


def authenticate(
    forge: ForgeKind,
    headers: Mapping[str, str],
    body: bytes,
    webhook_secret: str,
    signing_secret: str | None,
    *,
    now: float,
    tolerance: float,
) -> str | None:
    """ONE secret check of a delivery against one repository's secrets: None when it holds,
    else the reason it does not (a fixed phrase, safe for the audit log).

    Gitea/Forgejo: HMAC of the body with the webhook secret. GitLab with a signing secret: the
    Standard Webhooks signature only (a plain token is then refused). GitLab without one: the
    plain token, compared in constant time."""
    if forge is ForgeKind.GITEA:
        ok = verify_gitea_signature(headers, body, webhook_secret)
        return None if ok else "signature missing or wrong"
    if signing_secret:
        return verify_gitlab_signature(headers, body, signing_secret, now=now, tolerance=tolerance)
    ok = verify_gitlab_token(headers.get("x-gitlab-token"), webhook_secret)
    return None if ok else "token missing or wrong"


def delivery_key(
    forge: ForgeKind, headers: Mapping[str, str], body: bytes, *, signed_id: bool = False
) -> str:
    """The dedup key of an authenticated delivery: a replay with the same key changes nothing.

    The rule: a delivery id counts on its own only when the signature covers it, else it is
    bound to the body it came with.
    - `signed_id` (GitLab signed webhooks): `webhook-id` is part of the signed
      `{webhook-id}.{webhook-timestamp}.{body}`, so only the secret's holder chose it and GitLab
      keeps it across retries: the key is that id.
    - Ids no signature covers (GitLab's `Idempotency-Key` / `X-Gitlab-Event-UUID` beside a plain
      token; Gitea's and Forgejo's `X-*-Delivery`, the HMAC being over the body only): the id
      plus sha256(body). A forged header then cannot make a different real delivery look like
      a replay; a real retry (same id, same body) still has the same key.
    - No id: sha256(body).
    """
    if forge is ForgeKind.GITLAB:
        if signed_id and (webhook_id := headers.get("webhook-id", "").strip()):
            return f"{forge.value}:{webhook_id[:200]}"
        names: tuple[str, ...] = ("idempotency-key", "x-gitlab-event-uuid")
    else:
        names = ("x-forgejo-delivery", "x-gitea-delivery")
    digest = hashlib.sha256(body).hexdigest()
    for name in names:
        value = headers.get(name, "").strip()
        if value:
            return f"{forge.value}:{value[:160]}:sha256:{digest}"
    return f"{forge.value}:sha256:{digest}"


# --- per-repository hook URLs -----------------------------------------------------------------

HOOK_KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def is_hook_key(value: str) -> bool:
    """Whether `value` can be a repository's hook key (see `store.repos.new_hook_key`)."""
    return HOOK_KEY_RE.fullmatch(value) is not None


def hook_url(public_url: str, forge: ForgeKind, hook_key: str) -> str:
    """The URL a repository's webhook posts to: one secret to check per delivery. Repositories
    registered before per-repository URLs may still post to the legacy `/hooks/<forge>`."""
    return f"{public_url.rstrip('/')}/hooks/{forge.value}/{hook_key}"


# --- parsing and classification ---------------------------------------------------------------


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    return payload


def _obj(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PayloadError(f"{what} must be a positive integer")
    return value


def _sha(value: Any) -> str:
    sha = _str(value).lower()
    return sha if SHA_RE.match(sha) else ""


def project_of(forge: ForgeKind, payload: Mapping[str, Any]) -> str:
    if forge is ForgeKind.GITLAB:
        return _str(_obj(payload, "project").get("path_with_namespace"))
    return _str(_obj(payload, "repository").get("full_name"))


def classify_gitlab(event: str, payload: Mapping[str, Any]) -> Trigger | Ignored:
    """GitLab `X-Gitlab-Event` + payload -> what to do. Tolerates older GitLab payloads."""
    project = project_of(ForgeKind.GITLAB, payload)
    if not project:
        raise PayloadError("payload has no project.path_with_namespace")
    kind = _str(payload.get("object_kind"))
    attrs = _obj(payload, "object_attributes")
    if kind == "merge_request" or event == "Merge Request Hook":
        iid = _number(attrs.get("iid"), "object_attributes.iid")
        head = _sha(_obj(attrs, "last_commit").get("id"))
        action = _str(attrs.get("action"))
        if attrs.get("draft") is True or attrs.get("work_in_progress") is True:
            return Ignored(project, "draft merge request")
        if _str(attrs.get("state")) not in {"", "opened"}:
            return Ignored(project, f"merge request is {attrs.get('state')}")
        if action in {"open", "reopen"}:
            return Trigger(project, iid, head, action)
        # "update" covers pushes and edits alike; only new commits (oldrev) warrant a review.
        # Some GitLab versions omit the action entirely: oldrev is the signal there too.
        if action in {"update", ""} and _sha(attrs.get("oldrev")):
            return Trigger(project, iid, head, "update")
        if action == "update":
            return Ignored(project, "update without new commits")
        return Ignored(project, f"merge request action {action or 'missing'!r}")
    if kind == "note" or event == "Note Hook":
        if _str(attrs.get("noteable_type")) != "MergeRequest":
            return Ignored(project, "comment is not on a merge request")
        if not COMMAND_RE.search(_str(attrs.get("note"))):
            return Ignored(project, "comment has no /revisor command")
        mr = _obj(payload, "merge_request")
        iid = _number(mr.get("iid"), "merge_request.iid")
        return Trigger(project, iid, _sha(_obj(mr, "last_commit").get("id")), "command")
    return Ignored(project, f"event {event or kind or 'unknown'!r} is not reviewed")


def classify_gitea(event: str, payload: Mapping[str, Any]) -> Trigger | Ignored:
    """Gitea/Forgejo `X-Gitea-Event` (or `X-Forgejo-Event`) + payload -> what to do."""
    project = project_of(ForgeKind.GITEA, payload)
    if not project:
        raise PayloadError("payload has no repository.full_name")
    action = _str(payload.get("action"))
    if event == "pull_request":
        pr = _obj(payload, "pull_request")
        number = _number(payload.get("number") or pr.get("number"), "number")
        if pr.get("draft") is True or WIP_RE.match(_str(pr.get("title"))):
            return Ignored(project, "work-in-progress pull request")
        if _str(pr.get("state")) not in {"", "open"}:
            return Ignored(project, f"pull request is {pr.get('state')}")
        head = _sha(_obj(pr, "head").get("sha"))
        reasons = {"opened": "open", "reopened": "reopen", "synchronized": "update"}
        if action in reasons:
            return Trigger(project, number, head, reasons[action])
        return Ignored(project, f"pull request action {action or 'missing'!r}")
    if event == "issue_comment":
        issue = _obj(payload, "issue")
        if not (payload.get("is_pull") is True or issue.get("pull_request")):
            return Ignored(project, "comment is not on a pull request")
        if action != "created":
            return Ignored(project, f"comment action {action or 'missing'!r}")
        if not COMMAND_RE.search(_str(_obj(payload, "comment").get("body"))):
            return Ignored(project, "comment has no /revisor command")
        return Trigger(project, _number(issue.get("number"), "issue.number"), "", "command")
    return Ignored(project, f"event {event or 'unknown'!r} is not reviewed")
