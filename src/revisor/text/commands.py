"""`/revisor` commands in a merge request comment, and the markers of Revisor's own notes.

A command is a line that starts (after spaces) with `/revisor`, then a word and its argument:

    /revisor review              review the changes since the last review (all if none yet)
    /revisor full-review         review the whole merge request again
    /revisor ask <question>      answer a question with the model, in this thread
    /revisor ignore [reason]     in a Revisor thread: stop raising this finding in this repository
    /revisor help                list the commands

Any other word (or none) is an unknown command, answered with the short help. Only the first
command line of a comment counts. The pattern stays within one line (`[^\\S\\n]`), so a comment
of many blank lines is read in linear time (see `forges.hooks.COMMAND_RE`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["COMMANDS", "HELP", "Command", "is_own_note", "parse_command"]

_LINE = re.compile(
    r"^[^\S\n]*/revisor(?:[^\S\n]+(?P<word>[^\s]+)(?P<rest>[^\n]*))?[^\S\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
COMMANDS = ("review", "full-review", "ask", "ignore", "help")
MAX_ARGUMENT = 2000  # characters of a question or a reason kept
# Revisor's hidden markers (`text.markers`): a note carrying one was written by Revisor.
_OWN = re.compile(r"<!-- revisor:[a-z]+(?:=[0-9a-f]{8,64})? -->")

HELP = "\n".join(
    [
        "Revisor understands these commands, each on its own line of a comment:",
        "",
        "- `/revisor review`: review what changed since the last review",
        "- `/revisor full-review`: review the whole merge request again",
        "- `/revisor ask <question>`: ask a question about this merge request",
        "- `/revisor ignore [reason]`: in a Revisor thread, stop raising this finding here",
        "- `/revisor help`: this list",
        "",
        "You can also reply in a Revisor thread, or mention Revisor, to get an answer.",
    ]
)


@dataclass(frozen=True)
class Command:
    name: str  # one of COMMANDS, or "unknown"
    argument: str = ""
    word: str = ""  # what was written after /revisor (for the unknown-command answer)

    @property
    def trigger(self) -> str:
        """The job trigger the intake records: `command` (a review, as before), `full-review`,
        `ask`, `ignore` or `help` (an unknown command is answered with the help)."""
        return {"review": "command", "unknown": "help"}.get(self.name, self.name)


def parse_command(body: str) -> Command | None:
    """The first `/revisor` command of a comment, or None."""
    match = _LINE.search(body)
    if match is None:
        return None
    word = (match.group("word") or "").lower()
    rest = (match.group("rest") or "").strip()[:MAX_ARGUMENT]
    if word in COMMANDS:
        return Command(word, rest, word)
    return Command("unknown", rest, word[:40])


def is_own_note(body: str) -> bool:
    """Whether the comment carries one of Revisor's hidden markers (Revisor wrote it)."""
    return _OWN.search(body) is not None
