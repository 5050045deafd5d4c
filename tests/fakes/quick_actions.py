"""GitLab's quick-action extraction, as the strict fakes run it.

A port of `Gitlab::QuickActions::Extractor` (lib/gitlab/quick_actions/extractor.rb): after
deleting every `\\r`, a line that starts at column 0 with `/` and a command name (any case)
runs, unless it lies in what the extractor itself skips. Its idea of code is cruder than
CommonMark's, and that is the point of porting it: a three-backtick block ends at the first
line that is exactly three backticks (so a four-backtick fence can be left early), `~~~` and
indented fences are not code at all, and backtick pairs, `<tag>`...`</tag>` blocks and `>>>`
quotes are skipped even across lines.
"""

from __future__ import annotations

import re

# Commands a bot with Developer access could run on a merge request (GitLab's names and aliases).
QUICK_ACTIONS = (
    "approve", "unapprove", "merge", "close", "reopen", "assign", "unassign", "reassign",
    "assign_reviewer", "reviewer", "request_review", "unassign_reviewer", "remove_reviewer",
    "reassign_reviewer", "label", "labels", "unlabel", "remove_label", "relabel", "title",
    "milestone", "remove_milestone", "draft", "ready", "wip", "rebase", "lock", "unlock",
    "subscribe", "unsubscribe", "todo", "done", "award", "react", "estimate", "spend",
    "remove_estimate", "remove_time_spent", "target_branch", "copy_metadata", "cc", "shrug",
    "tableflip", "submit_review", "merge_request", "due", "remove_due_date", "weight",
    "clear_weight", "confidential", "duplicate", "move", "relate", "unrelate", "epic",
    "iteration", "severity", "promote", "create_merge_request", "retry", "rerun",
)  # fmt: skip
_EXCLUDED = (
    r"(?P<code>^```.+?\n```$)"  # Extractor::CODE_REGEX
    r"|(?P<inline_code>`\n*.+?\n*`)"  # INLINE_CODE_REGEX
    r"|(?P<html>^<[^>]+?>\n.+?\n</[^>]+?>$)"  # HTML_BLOCK_REGEX
    r"|(?P<quote>^>>>.+?\n>>>$)"  # QUOTE_BLOCK_REGEX
)
_COMMANDS = re.compile(
    _EXCLUDED + r"|^/(?P<cmd>" + "|".join(sorted(QUICK_ACTIONS, key=len, reverse=True)) + r")"
    r"(?:[ ](?P<arg>[^\n]*))?(?:\s*\n|$)",
    re.MULTILINE | re.DOTALL | re.IGNORECASE,
)


def extract_quick_actions(body: str) -> tuple[str, list[tuple[str, str]]]:
    """GitLab's extraction: (the body without its command lines, [(command, argument)])."""
    found: list[tuple[str, str]] = []

    def one(match: re.Match[str]) -> str:
        if match.group("cmd") is None:
            return match.group(0)
        found.append((match.group("cmd").lower(), (match.group("arg") or "").strip()))
        return ""

    return _COMMANDS.sub(one, body.replace("\r", "")).rstrip(), found
