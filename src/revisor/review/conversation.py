"""Answering a developer in a thread: the prompt, the code shown with it, and the posted answer.

Pure functions. The system prompt (`prompts/answer.txt`) comes only from the appliance;
everything a person controls (the finding Revisor posted, which quotes model output, the code
around it, the thread so far, the message being answered) goes in the user message inside
`UNTRUSTED_*` blocks, and the repository's `extra_instructions` inside the
`REPOSITORY_GUIDANCE` block, each neutralised so it cannot close its block early
(`review.prompt.neutralise`). The model's answer is rendered like a finding's body: escaped,
then inert (`review.render.escape_markdown`, and the adapters' `inert_fields`), and it carries a
hidden marker naming the message it answers, so a job run twice answers once.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from importlib import resources

from revisor.domain import ChatMessage, Thread
from revisor.review.prompt import estimate_tokens, neutralise
from revisor.review.render import escape_markdown

__all__ = [
    "ANSWER_PROMPT",
    "answer_messages",
    "answer_version",
    "code_around",
    "fit_answer_messages",
    "render_answer",
    "render_reply",
]

ANSWER_PROMPT = "answer-v1"  # bump by hand when the prompt's meaning changes
MAX_NOTE_CHARS = 1500  # of each earlier note of the thread
MAX_NOTES = 12  # the latest notes of a long thread
MAX_QUESTION_CHARS = 2000
CONTEXT_LINES = 20  # lines of code shown above and below the finding
MAX_ANSWER_CHARS = 4000


@functools.cache
def _system() -> str:
    return (resources.files("revisor.review") / "prompts" / "answer.txt").read_text("utf-8")


@functools.cache
def answer_version() -> str:
    digest = hashlib.sha256(_system().encode("utf-8")).hexdigest()[:12]
    return f"{ANSWER_PROMPT}+{digest}"


def code_around(text: str | None, line: int | None, radius: int = CONTEXT_LINES) -> str:
    """`radius` lines either side of `line` (1-based), each with its number; "" without code."""
    if not text or line is None:
        return ""
    lines = text.splitlines()
    first, last = max(1, line - radius), min(len(lines), line + radius)
    return "\n".join(f"{n:>5} {lines[n - 1]}" for n in range(first, last + 1))


def _block(name: str, text: str) -> str:
    return f"<<<UNTRUSTED_{name}\n{neutralise(text)}\nUNTRUSTED_{name}>>>"


def _thread_text(thread: Thread | None, skip_note: str, max_notes: int = MAX_NOTES) -> str:
    """The thread so far, without the message being answered: its first note (the finding)
    and the latest others, `max_notes` in all."""
    if thread is None:
        return ""
    notes = [n for n in thread.notes if n.note_id != skip_note]
    if len(notes) > max_notes:
        notes = [notes[0], *notes[len(notes) - max_notes + 1 :]] if max_notes > 1 else notes[:1]
    return "\n\n".join(
        f"[{'Revisor' if n.by_bot else 'developer ' + n.author[:60]}]\n{n.body[:MAX_NOTE_CHARS]}"
        for n in notes
    )


def answer_messages(
    *,
    question: str,
    note_id: str,
    thread: Thread | None,
    code: str,
    guidance: str,
    title: str = "",
    max_notes: int = MAX_NOTES,
) -> list[ChatMessage]:
    """The chat messages for one answer. `question` is the message's text (a `/revisor ask`
    argument or the whole reply); `thread` the thread it is in (None: a plain comment)."""
    parts = []
    if guidance.strip():
        parts.append(f"<<<REPOSITORY_GUIDANCE\n{neutralise(guidance)}\nREPOSITORY_GUIDANCE>>>")
    if title:
        parts.append(_block("MR_TITLE", title[:300]))
    where = f"{thread.path}:{thread.new_line or thread.old_line}" if thread and thread.path else ""
    if code:
        parts.append(_block("CODE", f"{where}\n{code}" if where else code))
    earlier = _thread_text(thread, note_id, max_notes)
    if earlier:
        parts.append(_block("THREAD", earlier))
    parts.append(_block("MESSAGE", question[:MAX_QUESTION_CHARS]))
    parts.append("Answer the developer's message in plain Markdown.")
    return [ChatMessage("system", _system().strip()), ChatMessage("user", "\n\n".join(parts))]


def prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    return sum(estimate_tokens(m.content) for m in messages)


def _middle(code: str, radius: int) -> str:
    lines = code.splitlines()
    mid = len(lines) // 2
    return "\n".join(lines[max(0, mid - radius) : mid + radius + 1])


def fit_answer_messages(
    budget: int,
    *,
    question: str,
    note_id: str,
    thread: Thread | None,
    code: str,
    guidance: str,
    title: str = "",
) -> list[ChatMessage]:
    """The richest answer prompt within `budget` estimated tokens: everything; else the
    finding, the last two notes and 8 lines of code either side; else the finding and the
    message alone (sent even if still too long: the model's error then says so)."""
    shapes = ((code, MAX_NOTES), (_middle(code, 8), 3), ("", 1))
    messages: list[ChatMessage] = []
    for shown, notes in shapes:
        messages = answer_messages(
            question=question,
            note_id=note_id,
            thread=thread,
            code=shown,
            guidance=guidance,
            title=title,
            max_notes=notes,
        )
        if prompt_tokens(messages) <= budget:
            break
    return messages


def render_answer(text: str, *, model: str) -> str:
    """The model's answer as posted: escaped (no HTML, links or mentions survive), cut to a
    bounded length, with a footer naming the model."""
    body = text.strip()[:MAX_ANSWER_CHARS] or "(the model gave no answer)"
    return f"{escape_markdown(body)}\n\n<sub>Answer by Revisor · model `{model[:80]}`</sub>"


def render_reply(body: str, marker: str) -> str:
    """Any text Revisor posts in answer to a message, with that message's hidden marker."""
    return f"{body}\n\n{marker}"
