"""The repositories pages: the list and the add form, one repository, its review policy and its
webhook secret."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from revisor.audit import AuditRecord, Event, Outcome
from revisor.config import Settings
from revisor.domain import ForgeKind
from revisor.errors import AuditWriteError, RevisorError
from revisor.gitservers import CA_DIR_NAME, confined_ca_file
from revisor.store import connections, repos, servers, transcripts
from revisor.web import hook_urls
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import OPERATE, READ, require
from revisor.web.dashboard.pages import FormData, fmt_time, page, source, who
from revisor.web.dashboard.repo_checks import check_repository, new_target
from revisor.web.resources import Resources

SEVERITIES = ("info", "minor", "major", "critical")


def webhook_url(settings: Settings, repo: repos.Repo) -> str:
    return hook_urls.hook_url(settings.public_base_url, repo.forge, repo.hook_key)


def _repos_page(
    request: Request[Any, Any, Any],
    resources: Resources,
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
    **extra: Any,
) -> Template:
    settings = resources.settings
    db = resources.dbs.get()
    rows = repos.list_all(db)
    return page(
        request,
        "repos.html",
        status=status,
        repos=rows,
        urls={r.id: webhook_url(settings, r) for r in rows},
        deliveries=connections.last_deliveries(db),
        fmt_time=fmt_time,
        forges=[f.value for f in ForgeKind],
        servers=servers.urls(db),
        ca_dir=settings.data_dir / CA_DIR_NAME,
        form=form or {},
        **extra,
    )


@get("/repos", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def repos_page(request: Request[Any, Any, Any], resources: Resources) -> Template:
    return _repos_page(request, resources)


@post(
    # Not "/repos": Litestar re-registers the handlers of a path that gets a second method and
    # then wraps a sync GET handler twice (its result becomes a coroutine).
    "/repos/new",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def repo_add(request: Request[Any, Any, Any], resources: Resources, data: FormData) -> Template:
    """Register a repository on a Git server an admin has allowed (never any other), once the
    server has said that the token may review there and the project exists (`repo_checks`). A
    CA bundle named here must lie in `<data_dir>/ca/`. A refusal shows the form again, filled
    in as typed (the token excepted)."""
    settings = resources.settings
    actor = who(request).actor
    secret = secrets.token_urlsafe(32)
    db = resources.dbs.get()

    def audit(repo_id: int) -> None:  # inside the insert's transaction: no record, no repo
        new = repos.get(resources.dbs.get(), repo_id)
        common = {"actor": actor, "target": f"repo:{repo_id}", "source": source(request)}
        resources.audit.append_many(
            [
                AuditRecord(
                    Event.REPO_ADDED,
                    outcome=Outcome.SUCCESS,
                    details={
                        "forge": new.forge.value,
                        "server": new.server,
                        "project": new.project,
                    },
                    **common,
                ),
                AuditRecord(
                    Event.SECRET_CREATED,
                    outcome=Outcome.SUCCESS,
                    details={"which": "webhook_secret"},
                    **common,
                ),
            ]
        )

    try:
        forge = ForgeKind(data.get("forge", ""))
        server = servers.require_allowed(db, data.get("server", ""))
        token = data.get("token", "").strip()
        if not token:
            raise RevisorError("an API token is required")
        ca_file = data.get("ca_file", "").strip()
        ca = confined_ca_file(ca_file, settings.data_dir) if ca_file else None
        target = new_target(forge, server, data.get("project", ""), token, ca)
        if repos.get_by_key(db, forge, server, target.project) is not None:
            raise repos.RepoExists(f"{target.project} on {server} is already registered")
        check_repository(request, resources, target, f"server:{server}")
        repo = repos.add(
            db,
            resources.keys,
            forge=forge,
            server=server,
            project=target.project,
            token=token,
            webhook_secret=secret,
            ca_file=ca,
            before_commit=audit,
        )
    except AuditWriteError:
        raise  # fail closed: nothing was registered (503)
    except (ValueError, RevisorError) as exc:
        typed = {k: data.get(k, "") for k in ("forge", "server", "project", "ca_file")}
        return _repos_page(request, resources, status=400, error=str(exc), form=typed)
    return _repo_page(request, resources, repo.id, new_secret=secret, message="Repository added.")


def _repo_page(
    request: Request[Any, Any, Any],
    resources: Resources,
    repo_id: int,
    *,
    status: int = 200,
    **extra: Any,
) -> Template:
    settings = resources.settings
    try:
        repo = repos.get(resources.dbs.get(), repo_id)
    except repos.RepoNotFound:
        raise NotFoundException(f"no repository {repo_id}") from None
    return page(
        request,
        "repo.html",
        status=status,
        repo=repo,
        webhook_url=webhook_url(settings, repo),
        severities=SEVERITIES,
        defaults=settings.review,
        transcript_days=transcripts.days_for(resources.dbs.get(), repo.id),
        last_delivery=connections.last_deliveries(resources.dbs.get()).get(repo.id),
        fmt_time=fmt_time,
        **extra,
    )


@get("/repos/{repo_id:int}", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def repo_detail(
    request: Request[Any, Any, Any], resources: Resources, repo_id: FromPath[int]
) -> Template:
    return _repo_page(request, resources, repo_id)


def parse_policy(data: dict[str, str]) -> dict[str, Any]:
    """Validate the policy form. Raises ValueError with a message for the admin."""
    policy: dict[str, Any] = {}
    severity = data.get("min_severity", "").strip()
    if severity:
        if severity not in SEVERITIES:
            raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}")
        policy["min_severity"] = severity
    max_comments = data.get("max_comments", "").strip()
    if max_comments:
        if not max_comments.isdigit() or not 0 <= int(max_comments) <= 200:
            raise ValueError("max_comments must be a whole number from 0 to 200")
        policy["max_comments"] = int(max_comments)
    ignore = [line.strip() for line in data.get("ignore", "").splitlines() if line.strip()]
    if len(ignore) > 200 or any(len(p) > 300 for p in ignore):
        raise ValueError("at most 200 ignore patterns of at most 300 characters")
    if ignore:
        policy["ignore"] = ignore
    extra = data.get("extra_instructions", "").strip()
    if len(extra) > 2000:
        raise ValueError("extra_instructions: at most 2000 characters")
    if extra:
        policy["extra_instructions"] = extra
    policy["enabled"] = data.get("enabled") == "on"
    return policy


@post(
    "/repos/{repo_id:int}/policy",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def repo_policy(
    request: Request[Any, Any, Any],
    resources: Resources,
    repo_id: FromPath[int],
    data: FormData,
) -> Template:
    _repo_page(request, resources, repo_id)  # 404 first
    try:
        policy = parse_policy(data)
    except ValueError as exc:
        return _repo_page(request, resources, repo_id, status=400, error=str(exc))
    # Audit first: if the record cannot be written, the policy stays as it was (fail closed).
    resources.audit.record(
        Event.CONFIG_CHANGED,
        actor=who(request).actor,
        target=f"repo:{repo_id}",
        source=source(request),
        policy=policy,
    )
    repos.set_policy(resources.dbs.get(), repo_id, policy)
    return _repo_page(request, resources, repo_id, message="Policy saved.")


@post(
    "/repos/{repo_id:int}/rotate-secret",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def repo_rotate_secret(
    request: Request[Any, Any, Any], resources: Resources, repo_id: FromPath[int]
) -> Template:
    db = resources.dbs.get()
    try:
        repo = repos.get(db, repo_id)
    except repos.RepoNotFound:
        raise NotFoundException(f"no repository {repo_id}") from None
    secret = secrets.token_urlsafe(32)
    # Audit first: if the record cannot be written, the secret stays as it was (fail closed).
    resources.audit.record(
        Event.SECRET_ROTATED,
        actor=who(request).actor,
        target=f"repo:{repo_id}",
        source=source(request),
        which="webhook_secret",
    )
    repos.set_webhook_secret(db, resources.keys, repo, secret)
    return _repo_page(
        request,
        resources,
        repo_id,
        new_secret=secret,
        message="Webhook secret rotated. Paste it into the Git server's webhook now.",
    )


@post(
    "/repos/{repo_id:int}/transcripts",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def repo_transcripts(
    request: Request[Any, Any, Any],
    resources: Resources,
    repo_id: FromPath[int],
    data: FormData,
) -> Template:
    """How many days this repository's review transcripts are kept (0: none are written)."""
    _repo_page(request, resources, repo_id)  # 404 first
    typed = data.get("transcript_days", "").strip()
    try:
        days = transcripts.check_days(int(typed)) if typed.isdigit() else None
        if days is None:
            raise ValueError(f"transcript days: a whole number from 0 to {transcripts.MAX_DAYS}")
    except ValueError as exc:
        return _repo_page(request, resources, repo_id, status=400, error=str(exc))
    resources.audit.record(  # first: no record, no change
        Event.CONFIG_CHANGED,
        actor=who(request).actor,
        target=f"repo:{repo_id}",
        source=source(request),
        transcript_days=days,
    )
    transcripts.set_days(resources.dbs.get(), repo_id, days)
    kept = f"kept {days} days" if days else "not kept"
    return _repo_page(request, resources, repo_id, message=f"Review transcripts are {kept}.")


repo_page = _repo_page
repos_page_of = _repos_page

routes = [repos_page, repo_add, repo_detail, repo_policy, repo_rotate_secret, repo_transcripts]
