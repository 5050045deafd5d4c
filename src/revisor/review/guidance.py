"""The repository's guidance for one chunk of the review: what the model is told besides the diff.

Three sources, in this order, each labelled with where it came from:

1. the review instructions: the administrator's `extra_instructions` and the repository's
   `.revisor.toml` `instructions` (`Policy.extra_instructions`);
2. the `[[path_instructions]]` whose glob matches one of the chunk's paths;
3. the repository's guidance files (`RepoDocs`: `AGENTS.md`, then `CONTRIBUTING.md` in its usual
   places), read from the target branch by the worker (`worker.repo_docs`).

All of it is written by whoever can push to the target branch, so it is untrusted text: the
engine redacts it and places it inside a delimited block of the user message, never in the
system prompt. The whole is cut to `max_chars`, the documents first (the last ones first:
AGENTS.md, written for tools like this one, is kept over CONTRIBUTING.md). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from revisor.review.policy import PathInstruction, Policy, path_spec

__all__ = ["CUT_MARK", "GUIDANCE_FILES", "RepoDocs", "guidance_for", "matching_instructions"]

# In order of preference: the first is kept whole the longest when the budget is short.
GUIDANCE_FILES = ("AGENTS.md", "CONTRIBUTING.md", ".github/CONTRIBUTING.md", "docs/CONTRIBUTING.md")
CUT_MARK = "\n[... cut]"
MIN_DOC_CHARS = 200  # a document with less room than this is left out rather than cut


@dataclass(frozen=True)
class RepoDocs:
    """The guidance files found on the target branch: (name, text), in GUIDANCE_FILES order."""

    files: tuple[tuple[str, str], ...] = ()


def matching_instructions(policy: Policy, paths: Sequence[str]) -> tuple[PathInstruction, ...]:
    """The policy's path instructions whose glob matches at least one of `paths`, in order."""
    found: list[PathInstruction] = []
    for entry in policy.path_instructions:
        try:
            spec = path_spec(entry.path)
        except ValueError:  # build_policy keeps only globs that compile
            continue
        if any(spec.match_file(path) for path in paths):
            found.append(entry)
    return tuple(found)


def _section(label: str, text: str) -> str:
    return f"--- {label} ---\n{text.strip()}"


def _cut(text: str, room: int) -> str:
    """`text` in at most `room` characters, with CUT_MARK when it had to be cut."""
    if len(text) <= room:
        return text
    return text[: max(0, room - len(CUT_MARK))].rstrip() + CUT_MARK


def _order(docs: RepoDocs) -> list[tuple[str, str]]:
    rank = {name: i for i, name in enumerate(GUIDANCE_FILES)}
    present = [(n, t) for n, t in docs.files if t.strip()]
    return sorted(present, key=lambda doc: rank.get(doc[0], len(rank)))


def guidance_for(policy: Policy, docs: RepoDocs, paths: Sequence[str], *, max_chars: int) -> str:
    """The guidance text for a chunk touching `paths`, at most `max_chars` characters ("" when
    there is none)."""
    if max_chars <= 0:
        return ""
    sections: list[str] = []
    if policy.extra_instructions.strip():
        sections.append(
            _section("review instructions (revisor.toml, .revisor.toml)", policy.extra_instructions)
        )
    for entry in matching_instructions(policy, paths):
        label = f"instructions for files matching {entry.path!r} ({entry.origin})"
        sections.append(_section(label, entry.instructions))
    head = _cut("\n\n".join(sections), max_chars)
    parts = [head] if head else []
    used = len(head)
    for name, text in _order(docs):
        sep = 2 if parts else 0
        room = max_chars - used - sep
        section = _section(f"{name} (target branch)", text)
        if room < min(MIN_DOC_CHARS, len(section)):
            continue
        section = _cut(section, room)
        parts.append(section)
        used += sep + len(section)
    return "\n\n".join(parts)
