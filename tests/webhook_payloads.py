"""Webhook payloads shaped as GitLab's and Gitea's documentation shows them (trimmed to the
fields a receiver reads plus a few it must ignore), and helpers to send them signed."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from revisor.forges.gitea.hooks import sign as sign_gitea
from revisor.forges.gitlab.hooks import sign as sign_gitlab
from revisor.store.repos import Repo

HEAD = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
OLDREV = "c4ff1bb5ef4d02c0b6e9de1d3f7b5c1a4a5b6c7d"


def gitlab_mr(
    project: str = "group/app",
    iid: int = 7,
    action: str | None = "open",
    head: str = HEAD,
    oldrev: str | None = None,
    draft: bool = False,
    state: str = "opened",
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "id": 99,
        "iid": iid,
        "target_branch": "main",
        "source_branch": "feature",
        "title": "Add the widget",
        "description": "Adds a widget.",
        "state": state,
        "draft": draft,
        "work_in_progress": draft,
        "merge_status": "unchecked",
        "url": "http://attacker.example/group/app/-/merge_requests/7",
        "last_commit": {"id": head, "message": "widget", "author": {"name": "A", "email": "a@x"}},
        "source": {"git_http_url": "http://attacker.example/group/app.git"},
    }
    if action is not None:
        attrs["action"] = action
    if oldrev is not None:
        attrs["oldrev"] = oldrev
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "project": {
            "id": 1,
            "name": "app",
            "web_url": "http://attacker.example/group/app",
            "path_with_namespace": project,
            "default_branch": "main",
        },
        "object_attributes": attrs,
        "labels": [],
        "changes": {},
        "repository": {"name": "app", "url": "git@example.com:group/app.git"},
    }


def gitlab_note(
    project: str = "group/app", iid: int = 7, note: str = "/revisor review"
) -> dict[str, Any]:
    return {
        "object_kind": "note",
        "event_type": "note",
        "user": {"id": 1, "username": "root"},
        "project_id": 1,
        "project": {"id": 1, "path_with_namespace": project, "web_url": "http://x/group/app"},
        "object_attributes": {
            "id": 1244,
            "note": note,
            "noteable_type": "MergeRequest",
            "noteable_id": 99,
        },
        "merge_request": {"id": 99, "iid": iid, "state": "opened", "last_commit": {"id": HEAD}},
    }


def gitea_pr(
    full_name: str = "owner/app",
    number: int = 3,
    action: str = "opened",
    head: str = HEAD,
    title: str = "Add the widget",
    draft: bool = False,
) -> dict[str, Any]:
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "id": 12,
            "number": number,
            "title": title,
            "body": "Adds a widget.",
            "state": "open",
            "draft": draft,
            "html_url": "http://attacker.example/owner/app/pulls/3",
            "head": {"ref": "feature", "sha": head},
            "base": {"ref": "main", "sha": OLDREV},
        },
        "repository": {
            "id": 5,
            "name": "app",
            "full_name": full_name,
            "clone_url": "http://attacker.example/owner/app.git",
        },
        "sender": {"id": 1, "login": "alice"},
    }


def gitea_comment(
    full_name: str = "owner/app", number: int = 3, body: str = "/revisor review"
) -> dict[str, Any]:
    return {
        "action": "created",
        "issue": {
            "id": 40,
            "number": number,
            "title": "Add the widget",
            "pull_request": {"merged": False},
        },
        "comment": {"id": 77, "body": body},
        "repository": {"id": 5, "full_name": full_name},
        "sender": {"login": "alice"},
        "is_pull": True,
    }


def hook_path(repo: Repo) -> str:
    """A repository's own hook URL path (`/hooks/<forge>/<hook_key>`)."""
    return f"/hooks/{repo.forge.value}/{repo.hook_key}"


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def gitlab_headers(
    token: str, event: str = "Merge Request Hook", uuid_: str | None = None
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": token,
        "X-Gitlab-Event-UUID": uuid_ or str(uuid.uuid4()),
    }


def gitlab_signed_headers(
    signing_secret: str, body: bytes, *, timestamp: int | None = None, webhook_id: str = ""
) -> dict[str, str]:
    """As GitLab signs: `webhook-id` (kept across retries) is covered by the signature."""
    webhook_id = webhook_id or str(uuid.uuid4())
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Merge Request Hook",
        "Idempotency-Key": webhook_id,
        "webhook-id": webhook_id,
        "webhook-timestamp": ts,
        "webhook-signature": sign_gitlab(signing_secret, webhook_id, ts, body),
    }


def gitea_headers(
    secret: str,
    body: bytes,
    event: str = "pull_request",
    forgejo: bool = False,
    delivery: str = "",
) -> dict[str, str]:
    """As Gitea signs: the HMAC covers the body only, not `X-Gitea-Delivery`."""
    delivery = delivery or str(uuid.uuid4())
    sig = sign_gitea(secret, body)
    headers = {
        "Content-Type": "application/json",
        "X-Gitea-Event": event,
        "X-Gitea-Delivery": delivery,
        "X-Gitea-Signature": sig,
    }
    if forgejo:
        headers |= {
            "X-Forgejo-Event": event,
            "X-Forgejo-Delivery": delivery,
            "X-Forgejo-Signature": sig,
        }
    return headers
