"""Comments as triggers: `/revisor` commands, replies in threads, mentions; Revisor's own
notes ignored (GitLab note hooks on discussions, Gitea `issue_comment` on pull requests)."""

from __future__ import annotations

from typing import Any

import pytest

from revisor.domain import ForgeKind
from revisor.forges import Ignored, Trigger, hooks_for
from revisor.text.commands import HELP, parse_command
from revisor.text.markers import fingerprint_marker
from tests import webhook_payloads as wp

DISCUSSION = "6a9c1750b37d513a43987b574953fceb50b03ce7"


def gitlab_note(note: str, **attrs: Any) -> dict[str, Any]:
    """A note hook as GitLab's "Comment on merge request" example shows it."""
    payload = wp.gitlab_note(note=note)
    payload["user"] = {"id": 2, "username": "alice", "name": "Alice"}
    payload["object_attributes"] |= {
        "id": 1244,
        "author_id": 2,
        "discussion_id": DISCUSSION,
        "type": None,
        "system": False,
        **attrs,
    }
    return payload


def gitea_comment(body: str) -> dict[str, Any]:
    payload = wp.gitea_comment(body=body)
    payload["sender"] = {"id": 2, "login": "alice"}
    return payload


def classify(kind: ForgeKind, payload: dict[str, Any]) -> Trigger | Ignored:
    event = "Note Hook" if kind is ForgeKind.GITLAB else "issue_comment"
    return hooks_for(kind).classify(event, payload)


@pytest.mark.parametrize(
    ("body", "reason", "head"),
    [
        ("/revisor review", "command", wp.HEAD),
        ("/revisor full-review", "full-review", wp.HEAD),
        ("/revisor ask is this thread-safe?", "ask", ""),
        ("please\n/revisor ignore we validate upstream", "ignore", ""),
        ("/revisor help", "help", ""),
        ("/revisor frobnicate", "help", ""),
        ("/revisor", "help", ""),
    ],
)
def test_gitlab_commands(body: str, reason: str, head: str) -> None:
    found = classify(ForgeKind.GITLAB, gitlab_note(body))
    assert isinstance(found, Trigger)
    assert (found.reason, found.head_sha, found.mr_number) == (reason, head, 7)
    assert found.message is not None
    assert (found.message.author, found.message.author_id) == ("alice", "2")
    assert (found.message.note_id, found.message.body) == ("1244", body)


def test_gitlab_reply_in_a_thread_names_the_discussion() -> None:
    found = classify(ForgeKind.GITLAB, gitlab_note("why?", type="DiffNote"))
    assert isinstance(found, Trigger)
    assert found.reason == "reply"
    assert found.message is not None
    assert found.message.thread_id == DISCUSSION


def test_gitlab_mention_and_plain_notes() -> None:
    found = classify(ForgeKind.GITLAB, gitlab_note("@revisor-bot is this right?"))
    assert isinstance(found, Trigger)
    assert found.reason == "mention"
    assert classify(ForgeKind.GITLAB, gitlab_note("looks good")) == Ignored(
        "group/app", "comment has no /revisor command"
    )


@pytest.mark.parametrize(
    "attrs",
    [
        {"note": f"finding\n\n{fingerprint_marker('0a0b0c0d')}", "type": "DiffNote"},
        {"note": "merged", "system": True},
    ],
)
def test_gitlab_own_and_system_notes_are_ignored(attrs: dict[str, Any]) -> None:
    payload = gitlab_note(attrs.pop("note"), **attrs)
    found = classify(ForgeKind.GITLAB, payload)
    assert isinstance(found, Ignored)


def test_gitlab_hostile_ids_are_dropped() -> None:
    payload = gitlab_note("/revisor ask x", id="../../x", discussion_id="a/b")
    found = classify(ForgeKind.GITLAB, payload)
    assert isinstance(found, Trigger)
    assert found.message is not None
    assert (found.message.note_id, found.message.thread_id) == ("", "")


def test_gitea_comments() -> None:
    ask = classify(ForgeKind.GITEA, gitea_comment("/revisor ask why"))
    assert isinstance(ask, Trigger)
    assert (ask.reason, ask.head_sha) == ("ask", "")
    assert ask.message is not None
    assert (ask.message.note_id, ask.message.author) == ("77", "alice")
    reply = classify(ForgeKind.GITEA, gitea_comment("I disagree"))
    assert isinstance(reply, Trigger)
    assert reply.reason == "reply"
    own = classify(ForgeKind.GITEA, gitea_comment(f"x {fingerprint_marker('0a0b0c0d')}"))
    assert isinstance(own, Ignored)


def test_parse_command() -> None:
    assert parse_command("no command") is None
    ignore = parse_command("  /Revisor IGNORE  not a bug here  ")
    assert ignore is not None
    assert (ignore.name, ignore.argument) == ("ignore", "not a bug here")
    unknown = parse_command("/revisor deploy prod")
    assert unknown is not None
    assert (unknown.name, unknown.word, unknown.trigger) == ("unknown", "deploy", "help")
    assert parse_command("/revisorreview") is None
    assert all(f"/revisor {name}" in HELP for name in ("review", "full-review", "ask", "ignore"))


def gitlab_emoji(name: str = "thumbsdown", action: str = "award", **note: Any) -> dict[str, Any]:
    """An emoji hook as GitLab's "Emoji events" example shows it (trimmed)."""
    return {
        "object_kind": "emoji",
        "event_type": action,
        "user": {"id": 2, "username": "alice", "name": "Alice"},
        "project_id": 1,
        "project": {"id": 1, "path_with_namespace": "group/app"},
        "object_attributes": {
            "user_id": 2,
            "id": 9,
            "name": name,
            "awardable_type": "Note",
            "awardable_id": 1001,
            "action": action,
        },
        "note": {"id": 1001, "discussion_id": DISCUSSION, "noteable_type": "MergeRequest", **note},
        "merge_request": {"iid": 7, "last_commit": {"id": wp.HEAD}},
    }


def test_gitlab_thumbs_down_is_feedback() -> None:
    found = hooks_for(ForgeKind.GITLAB).classify("Emoji Hook", gitlab_emoji())
    assert isinstance(found, Trigger)
    assert (found.reason, found.mr_number, found.head_sha) == ("feedback", 7, "")
    assert found.message is not None
    assert (found.message.note_id, found.message.author, found.message.thread_id) == (
        "1001",
        "alice",
        DISCUSSION,
    )
    for other in (gitlab_emoji("thumbsup"), gitlab_emoji(action="revoke"),
                  gitlab_emoji(noteable_type="Issue")):  # fmt: skip
        assert isinstance(hooks_for(ForgeKind.GITLAB).classify("Emoji Hook", other), Ignored)
