"""The webhook side of the forge seam, each forge on its own: no web app, no database.

`forges.hooks_for(kind)` hands out the forge's `ForgeHooks`; these tests speak only to that
object, with headers lower-cased as the intake passes them.
"""

from __future__ import annotations

import hashlib

import pytest

from revisor.domain import ForgeKind
from revisor.forges import ForgeHooks, Ignored, PayloadError, Trigger, hooks_for
from revisor.forges.hooks import parse_json
from tests import webhook_payloads as wp

SECRET = "w" * 24
SIGNING = "whsec_c2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz"
NOW = 1_800_000_000.0


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def verify(
    hooks: ForgeHooks, headers: dict[str, str], body: bytes, signing: str | None = None
) -> str | None:
    return hooks.verify(lower(headers), body, SECRET, signing, now=NOW, tolerance=300)


@pytest.mark.parametrize("kind", list(ForgeKind))
def test_the_registry_hands_out_each_forges_own_hooks(kind: ForgeKind) -> None:
    assert hooks_for(kind).kind is kind
    assert hooks_for(kind) is hooks_for(kind)  # stateless: one instance per forge


# --- GitLab -----------------------------------------------------------------------------------


def test_gitlab_verifies_the_plain_token_in_constant_time_and_nothing_else() -> None:
    hooks, body = hooks_for(ForgeKind.GITLAB), wp.body_of(wp.gitlab_mr())
    assert verify(hooks, wp.gitlab_headers(SECRET), body) is None
    assert verify(hooks, wp.gitlab_headers("x" * 24), body) == "token missing or wrong"
    assert verify(hooks, {"X-Gitlab-Event": "Merge Request Hook"}, body) == "token missing or wrong"
    assert hooks.verify({"x-gitlab-token": ""}, body, "", None, now=NOW, tolerance=300) is not None


def test_gitlab_with_a_signing_secret_takes_only_the_signature() -> None:
    hooks, body = hooks_for(ForgeKind.GITLAB), wp.body_of(wp.gitlab_mr())
    signed = wp.gitlab_signed_headers(SIGNING, body, timestamp=int(NOW))
    assert verify(hooks, signed, body, SIGNING) is None
    assert verify(hooks, signed, body + b" ", SIGNING) == "signature does not match"
    late = wp.gitlab_signed_headers(SIGNING, body, timestamp=int(NOW) + 301)
    assert verify(hooks, late, body, SIGNING) == "webhook-timestamp outside the allowed clock skew"
    # The plain token no longer counts once the repository signs its webhooks.
    assert verify(hooks, wp.gitlab_headers(SECRET), body, SIGNING) is not None
    assert hooks.signs_deliveries


def test_gitlab_classifies_merge_requests_commands_and_drafts() -> None:
    hooks = hooks_for(ForgeKind.GITLAB)
    event = hooks.event(lower(wp.gitlab_headers(SECRET)))
    assert event == "Merge Request Hook"
    assert hooks.classify(event, wp.gitlab_mr(iid=9)) == Trigger("group/app", 9, wp.HEAD, "open")
    assert hooks.classify(event, wp.gitlab_mr(draft=True)) == Ignored(
        "group/app", "draft merge request"
    )
    assert hooks.classify(event, wp.gitlab_mr(action="update")) == Ignored(
        "group/app", "update without new commits"
    )
    note = hooks.classify("Note Hook", wp.gitlab_note(iid=4))
    assert isinstance(note, Trigger)
    assert (note.project, note.mr_number, note.reason) == ("group/app", 4, "command")
    assert hooks.classify("Note Hook", wp.gitlab_note(note="looks good")) == Ignored(
        "group/app", "comment has no /revisor command"
    )
    with pytest.raises(PayloadError, match="path_with_namespace"):
        hooks.classify(event, {"object_kind": "merge_request"})


def test_gitlab_delivery_key_trusts_only_a_signed_id() -> None:
    hooks, body = hooks_for(ForgeKind.GITLAB), b"{}"
    headers = {"webhook-id": "w-1", "idempotency-key": "i-1"}
    assert hooks.delivery_key(headers, body, signed=True) == "gitlab:w-1"
    digest = hashlib.sha256(body).hexdigest()
    assert hooks.delivery_key(headers, body, signed=False) == f"gitlab:i-1:sha256:{digest}"
    assert hooks.delivery_key({}, body, signed=True) == f"gitlab:sha256:{digest}"


# --- Gitea / Forgejo ----------------------------------------------------------------------------


def test_gitea_verifies_the_body_hmac_and_prefers_forgejos_own_header() -> None:
    hooks, body = hooks_for(ForgeKind.GITEA), wp.body_of(wp.gitea_pr())
    assert verify(hooks, wp.gitea_headers(SECRET, body), body) is None
    assert verify(hooks, wp.gitea_headers(SECRET, body), body + b" ") == (
        "signature missing or wrong"
    )
    assert verify(hooks, {"X-Gitea-Event": "pull_request"}, body) == "signature missing or wrong"
    forgejo = wp.gitea_headers(SECRET, body, forgejo=True)
    assert verify(hooks, forgejo, body) is None
    forgejo["X-Forgejo-Signature"] = "0" * 64  # its own header counts, even beside a good one
    assert verify(hooks, forgejo, body) is not None
    assert not hooks.signs_deliveries


def test_gitea_classifies_pull_requests_comments_and_wip() -> None:
    hooks = hooks_for(ForgeKind.GITEA)
    body = wp.body_of(wp.gitea_pr())
    assert hooks.event(lower(wp.gitea_headers(SECRET, body, forgejo=True))) == "pull_request"
    assert hooks.classify("pull_request", wp.gitea_pr(number=5)) == Trigger(
        "owner/app", 5, wp.HEAD, "open"
    )
    assert hooks.classify("pull_request", wp.gitea_pr(title="WIP: later")) == Ignored(
        "owner/app", "work-in-progress pull request"
    )
    comment = hooks.classify("issue_comment", wp.gitea_comment(number=6))
    assert isinstance(comment, Trigger)
    assert (comment.project, comment.mr_number, comment.head_sha, comment.reason) == (
        "owner/app",
        6,
        "",
        "command",
    )
    assert isinstance(hooks.classify("push", wp.gitea_pr()), Ignored)
    with pytest.raises(PayloadError, match="full_name"):
        hooks.classify("pull_request", {"action": "opened"})


def test_gitea_delivery_key_binds_the_id_to_the_body_even_when_signed() -> None:
    hooks, body = hooks_for(ForgeKind.GITEA), b"{}"
    digest = hashlib.sha256(body).hexdigest()
    headers = {"x-gitea-delivery": "d-1", "x-forgejo-delivery": "f-1", "webhook-id": "w"}
    assert hooks.delivery_key(headers, body, signed=True) == f"gitea:f-1:sha256:{digest}"
    assert hooks.delivery_key(headers, b"[]", signed=False) != f"gitea:f-1:sha256:{digest}"


def test_parse_json_refuses_what_is_not_an_object() -> None:
    assert parse_json(b'{"a": 1}') == {"a": 1}
    for bad in (b"[]", b"\xff", b"{"):
        with pytest.raises(PayloadError):
            parse_json(bad)
