"""A job that answers a comment: a `/revisor` command, a reply in a Revisor thread, a mention.

    read the thread -> is the comment still there, not a bot's, addressed to Revisor?
    -> answered already? (hidden marker in our notes) -> may its author read the project?
    -> review | full-review: the review pipeline | rate limits -> help | ignore | model answer
    -> reply in the same thread (inert, with the marker) -> answers row + audit

Each message is answered once: the answer carries a hidden marker naming the message
(`text.markers.reply_marker`), looked for before answering, so a job that runs again (its
worker died after posting) does not answer twice. Revisor's own notes and other bots' are never
answered; answers are rate-limited per merge request and per author, and each is audited (who
asked, which model, how many tokens).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from revisor.audit import AuditLog, Event, Outcome
from revisor.domain import ChatModel, MergeRequest, MeteredModel, RouteHints, Thread
from revisor.errors import RevisorError
from revisor.forges.base import Conversations, Forge
from revisor.review.conversation import (
    answer_version,
    code_around,
    fit_answer_messages,
    render_answer,
    render_reply,
)
from revisor.review.policy import Policy, build_policy
from revisor.store import conversations
from revisor.store.conversations import JobMessage
from revisor.store.db import PerThread
from revisor.text.commands import HELP, Command, parse_command
from revisor.text.markers import answered, find_fingerprint, reply_marker
from revisor.worker.memory import ReviewMemory
from revisor.worker.pipeline import POLICY_FILE, AuditedModel, JobSettings, _usage_sink
from revisor.worker.runner import JobContext, JobOutcome

log = logging.getLogger("revisor.worker.conversation")

ACTOR = "system:worker"
ANSWER_TOKENS = 600
# Bot accounts that are not ours: GitLab project/group access-token users, `*-bot`, `*[bot]`.
_OTHER_BOT = re.compile(r"^(project|group)_\d+_bot(_\w+)?$|[-_]bot$|\[bot\]$", re.IGNORECASE)


@dataclass(frozen=True)
class Conversation:
    """What answering one message needs."""

    forge: Forge
    model: MeteredModel
    store: PerThread
    audit: AuditLog
    settings: JobSettings


def answer_message(
    ctx: JobContext,
    message: JobMessage,
    env: Conversation,
    review: Callable[[], JobOutcome],
) -> JobOutcome:
    """Answer the job's comment; `review` runs the review pipeline (`/revisor review`)."""
    job, talk = ctx.job, env.forge
    if not isinstance(talk, Conversations):
        return _skip("this forge cannot hold conversations")
    command = parse_command(message.body)
    ctx.stage("read thread")
    mr = env.forge.fetch_merge_request(job.mr_number)
    threads = talk.list_threads(mr)
    thread = next((t for t in threads if t.note(message.note_id) is not None), None)
    note = thread.note(message.note_id) if thread is not None else None
    if thread is None or note is None:
        return _skip("the comment is no longer there")
    if job.trigger == "feedback":  # a thumbs-down (GitLab's emoji hook)
        return _feedback(env, talk, ctx, mr, thread, message)
    if note.author != message.author:  # the forge's word over the hook's
        return _skip("the comment's author is not the one the hook named")
    bot = talk.bot_name()
    if note.by_bot or message.author == bot or _OTHER_BOT.search(message.author):
        return _skip("written by a bot")
    if command is None and not _addressed(thread, message.body, bot):
        return _skip("not addressed to Revisor")
    ours = (n.body for t in threads for n in t.notes if n.by_bot)
    if answered(ours, message.note_id):
        return JobOutcome("done", {"reason": "answered already"})
    name = command.name if command is not None else job.trigger
    if not talk.can_read(message.author_id, message.author):
        return _refuse(env, job.id, mr, message, name, "author cannot read the project")
    if command is not None and command.name in {"review", "full-review"}:
        return review()
    db, limits = env.store.get(), env.settings.review
    on_mr = conversations.answers_in_last_hour(db, job.repo_id, mr_number=mr.ref.number)
    if on_mr >= limits.answers_per_mr_hour:
        return _refuse(env, job.id, mr, message, name, "rate limit of the merge request")
    to_author = conversations.answers_in_last_hour(db, job.repo_id, author=message.author)
    if to_author >= limits.answers_per_author_hour:
        return _refuse(env, job.id, mr, message, name, "rate limit of the author")
    policy = build_policy(env.settings.review, _read(env.forge, POLICY_FILE, mr.target_branch))
    if not policy.enabled:
        return _skip(f"disabled by {POLICY_FILE}")
    ctx.stage("answer")
    answer = _compose(ctx, env, mr, thread, message, command, policy)
    talk.reply(mr, thread, render_reply(answer.body, reply_marker(message.note_id)))
    conversations.record_answer(
        db,
        conversations.Answer(
            job.repo_id,
            mr.ref.number,
            message.note_id,
            message.author,
            job.id,
            answer.kind,
            answer.model,
            answer.prompt_tokens,
            answer.completion_tokens,
        ),
    )
    ref = mr.ref
    env.audit.record(
        Event.REPLY_POSTED,
        actor=ACTOR,
        target=f"{ref.forge.value}:{ref.project}!{ref.number}",
        job_id=job.id,
        note=message.note_id,
        author=message.author,
        kind=answer.kind,
        model=answer.model,
        prompt_version=answer_version() if answer.model else "",
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
    )
    return JobOutcome("done", {"answered": message.note_id, "kind": answer.kind})


@dataclass(frozen=True)
class _Answer:
    kind: str
    body: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _compose(
    ctx: JobContext,
    env: Conversation,
    mr: MergeRequest,
    thread: Thread,
    message: JobMessage,
    command: Command | None,
    policy: Policy,
) -> _Answer:
    if command is not None and command.name == "unknown":
        word = f"`/revisor {command.word}` is not a command. " if command.word else ""
        return _Answer("help", word + HELP)
    if command is not None and command.name == "help":
        return _Answer("help", HELP)
    if command is not None and command.name == "ignore":
        return _Answer("ignore", _ignore(ctx, env, mr, thread, message, command.argument))
    question = command.argument if command is not None else message.body
    if not question.strip():
        return _Answer("help", "Ask a question after `/revisor ask`.\n\n" + HELP)
    return _ask(ctx, env, mr, thread, message, question, policy)


def _ignore(
    ctx: JobContext,
    env: Conversation,
    mr: MergeRequest,
    thread: Thread,
    message: JobMessage,
    reason: str,
) -> str:
    fp = find_fingerprint(thread.notes[0].body) if thread.started_by_bot else None
    if fp is None:
        return "`/revisor ignore` works in a thread Revisor started, about its finding there."
    memory = ReviewMemory(None, env.store, env.audit, ctx.job, mr)
    memory.suppress(thread, fp, message.author, source="command", reason=reason)
    return (
        "Understood: Revisor will not raise this finding again in this repository. "
        "An administrator can undo this (`revisor suppressions list|remove`, or the dashboard)."
    )


def _ask(
    ctx: JobContext,
    env: Conversation,
    mr: MergeRequest,
    thread: Thread,
    message: JobMessage,
    question: str,
    policy: Policy,
) -> _Answer:
    code = ""
    if thread.path and thread.new_line:
        code = code_around(_read(env.forge, thread.path, mr.head_sha), thread.new_line)
    model: ChatModel = AuditedModel(
        env.model.metered(_usage_sink(env.store, ctx.job)), env.audit, ctx.job.id
    )
    hints = RouteHints(repo=mr.ref.project)
    max_tokens = min(ANSWER_TOKENS, env.settings.max_output_tokens)
    messages = fit_answer_messages(
        model.context_for(hints) - max_tokens,
        question=question,
        note_id=message.note_id,
        thread=thread if thread.path or len(thread.notes) > 1 else None,
        code=code,
        guidance=policy.extra_instructions,
        title=mr.title,
    )
    completion = model.complete(messages, max_tokens=max_tokens, json_mode=False, hints=hints)
    return _Answer(
        "ask" if ctx.job.trigger == "ask" else ctx.job.trigger,
        render_answer(completion.text, model=completion.model),
        completion.model,
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
    )


def _feedback(
    env: Conversation,
    talk: Conversations,
    ctx: JobContext,
    mr: MergeRequest,
    thread: Thread,
    message: JobMessage,
) -> JobOutcome:
    """Record a thumbs-down on Revisor's finding now rather than at the next review; the award
    and the user's access are read from the forge, not taken from the hook."""
    if not thread.started_by_bot or thread.notes[0].note_id != message.note_id:
        return _skip("not a Revisor finding")
    memory = ReviewMemory(talk, env.store, env.audit, ctx.job, mr, threads=[thread])
    return JobOutcome("done", {"suppressed": memory.collect_feedback()})


def _addressed(thread: Thread, body: str, bot: str) -> bool:
    """A reply in a line thread Revisor started, or a comment that mentions the bot."""
    if thread.started_by_bot and len(thread.notes) > 1:
        return True
    return bool(bot) and re.search(rf"(?<![\w@])@{re.escape(bot)}(?![\w-])", body) is not None


def _read(forge: Forge, path: str, ref: str) -> str | None:
    try:
        return forge.read_file(path, ref)
    except RevisorError as exc:
        log.info("could not read %s for an answer: %s", path, exc)
        return None


def _skip(reason: str) -> JobOutcome:
    return JobOutcome("skipped", {"reason": reason})


def _refuse(
    env: Conversation, job_id: int, mr: MergeRequest, message: JobMessage, command: str, why: str
) -> JobOutcome:
    ref = mr.ref
    env.audit.record(
        Event.COMMAND_REFUSED,
        actor=f"forge-user:{message.author}",
        target=f"{ref.forge.value}:{ref.project}!{ref.number}",
        outcome=Outcome.DENIED,
        job_id=job_id,
        note=message.note_id,
        author=message.author,
        command=command,
        reason=why,
    )
    return _skip(why)
