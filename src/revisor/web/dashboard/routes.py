"""Dashboard pages: server-rendered Jinja, htmx for the small in-place updates.

Handlers are synchronous (`sync_to_thread=True`): they do SQLite work, which must not block the
event loop that also answers webhooks. Who may open what is declared by `guards=` on each route
(see `revisor.web.auth.guards`); every route that changes something also has the CSRF guard and
writes an audit record before it reports success.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import secrets
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from revisor.audit import AuditLog, AuditRecord, Event, Outcome
from revisor.config import Settings
from revisor.domain import ForgeKind
from revisor.egress import audit_refusals
from revisor.errors import AuditWriteError, ConfigError, RevisorError
from revisor.gitservers import CA_DIR_NAME, confined_ca_file
from revisor.llm.registry import LOCAL_ID, SidecarChoice, select_endpoints, sidecar_endpoint
from revisor.outbound import configured_egress
from revisor.store import endpoints, jobs, repos, servers
from revisor.web import webhooks
from revisor.web.auth import local
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import ADMIN, AUDIT, OPERATE, READ, principal_of, require, signed_in
from revisor.web.auth.sessions import Principal
from revisor.web.client_address import client_address
from revisor.web.dashboard import charts, model_probe, queries
from revisor.web.intake import Intake

SEVERITIES = ("info", "minor", "major", "critical")
FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _intake(request: Request[Any, Any, Any]) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


def _who(request: Request[Any, Any, Any]) -> Principal:
    return signed_in(request)


def _source(request: Request[Any, Any, Any]) -> str:
    return client_address(request)


def page(
    request: Request[Any, Any, Any], name: str, *, status: int = 200, **context: Any
) -> Template:
    p = principal_of(request)
    return Template(
        template_name=name,
        context={
            "principal": p,
            "csrf": p.csrf if p else "",
            "path": request.url.path,
            "can_operate": bool(p and p.has(*OPERATE)),
            "can_audit": bool(p and p.has(*AUDIT)),
            "is_admin": bool(p and p.has(*ADMIN)),
            **context,
        },
        status_code=status,
    )


def fmt_time(ts: float | None) -> str:
    if not ts:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + " UTC"


# --- overview --------------------------------------------------------------------------------


@get("/", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def overview(request: Request[Any, Any, Any]) -> Template:
    db = _intake(request).dbs.get()
    t = time.time()
    labels, pct = queries.review_time_percentiles(db, t)
    model_health = request.app.state.get("model_health")
    return page(
        request,
        "overview.html",
        stats=queries.overview(db, t),
        model=model_health() if model_health else None,
        forges=queries.forge_health(db, t),
        reviews_chart=charts.bar_chart("Reviews per day (14 days)", queries.reviews_per_day(db, t)),
        time_chart=charts.line_chart("Review time percentiles (seconds)", labels, pct, unit="s"),
        tokens_chart=charts.hbar_chart(
            "Tokens per repository (30 days)", queries.tokens_per_repo(db, t - 30 * queries.DAY)
        ),
        fmt_time=fmt_time,
    )


# --- jobs ------------------------------------------------------------------------------------


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@get("/jobs", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def jobs_page(request: Request[Any, Any, Any]) -> Template:
    db = _intake(request).dbs.get()
    state = request.query_params.get("state") or None
    if state not in (None, *jobs.STATES):
        state = None
    repo_id = _int_or_none(request.query_params.get("repo"))
    rows = jobs.list_jobs(db, state=state, repo_id=repo_id, limit=200)
    all_repos = {r.id: r for r in repos.list_all(db)}
    context: dict[str, Any] = {
        "jobs": rows,
        "repos": all_repos,
        "states": jobs.STATES,
        "state": state or "",
        "repo_id": repo_id,
        "fmt_time": fmt_time,
    }
    if request.headers.get("hx-request"):  # htmx filter: only the table
        return page(request, "_jobs_table.html", **context)
    return page(request, "jobs.html", **context)


def _job_or_404(request: Request[Any, Any, Any], job_id: FromPath[int]) -> jobs.Job:
    job = jobs.get(_intake(request).dbs.get(), job_id)
    if job is None:
        raise NotFoundException(f"no job {job_id}")
    return job


@get("/jobs/{job_id:int}", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def job_detail(request: Request[Any, Any, Any], job_id: FromPath[int]) -> Template:
    job = _job_or_404(request, job_id)
    db = _intake(request).dbs.get()
    try:
        repo: repos.Repo | None = repos.get(db, job.repo_id)
    except repos.RepoNotFound:
        repo = None
    result = job.result or {}
    return page(
        request,
        "job.html",
        job=job,
        repo=repo,
        result=result,
        findings=result.get("findings") or [],
        skipped=result.get("skipped") or result.get("skipped_files") or [],
        usage=queries.usage_for_job(db, job.id),
        result_json=json.dumps(result, indent=2, sort_keys=True),
        fmt_time=fmt_time,
    )


def _job_action(request: Request[Any, Any, Any], job_id: FromPath[int], action: str) -> Template:
    intake = _intake(request)
    db = intake.dbs.get()
    job = _job_or_404(request, job_id)
    who = _who(request)
    event = Event.JOB_RETRIED if action == "retry" else Event.JOB_CANCELLED

    def audit(changed: bool) -> None:  # inside the update's transaction: no record, no change
        intake.audit.record(
            event,
            actor=who.actor,
            target=f"job:{job_id}",
            outcome=Outcome.SUCCESS if changed else Outcome.FAILURE,
            source=_source(request),
            previous_state=job.state,
        )

    changed = (jobs.requeue if action == "retry" else jobs.cancel)(db, job_id, audit)
    if changed and action == "retry":
        with contextlib.suppress(Exception):  # the reaper enqueues queued jobs it finds
            intake.queue.enqueue(job_id)
    done, undoable = (
        ("queued again", "retried") if action == "retry" else ("cancelled", "cancelled")
    )
    message = (
        f"Job {job_id} {done}."
        if changed
        else f"Job {job_id} is {job.state}; it cannot be {undoable}."
    )
    return page(
        request,
        "_job_actions.html",
        status=200 if changed else 409,
        job=_job_or_404(request, job_id),
        message=message,
    )


@post(
    "/jobs/{job_id:int}/retry",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def job_retry(request: Request[Any, Any, Any], job_id: FromPath[int]) -> Template:
    return _job_action(request, job_id, "retry")


@post(
    "/jobs/{job_id:int}/cancel",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def job_cancel(request: Request[Any, Any, Any], job_id: FromPath[int]) -> Template:
    return _job_action(request, job_id, "cancel")


# --- repositories ----------------------------------------------------------------------------


def webhook_url(settings: Settings, repo: repos.Repo) -> str:
    return webhooks.hook_url(settings.server.public_url, repo.forge, repo.hook_key)


def _repos_page(
    request: Request[Any, Any, Any],
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
    **extra: Any,
) -> Template:
    settings: Settings = request.app.state.settings
    db = _intake(request).dbs.get()
    rows = repos.list_all(db)
    return page(
        request,
        "repos.html",
        status=status,
        repos=rows,
        urls={r.id: webhook_url(settings, r) for r in rows},
        forges=[f.value for f in ForgeKind],
        servers=servers.urls(db),
        ca_dir=settings.data_dir / CA_DIR_NAME,
        form=form or {},
        **extra,
    )


@get("/repos", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def repos_page(request: Request[Any, Any, Any]) -> Template:
    return _repos_page(request)


@post(
    # Not "/repos": Litestar re-registers the handlers of a path that gets a second method and
    # then wraps a sync GET handler twice (its result becomes a coroutine).
    "/repos/new",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def repo_add(request: Request[Any, Any, Any], data: FormData) -> Template:
    """Register a repository on a Git server an admin has allowed (never any other). A CA
    bundle named here must lie in `<data_dir>/ca/`. A refusal shows the form again, filled in
    as typed (the token excepted)."""
    intake = _intake(request)
    settings: Settings = request.app.state.settings
    who = _who(request)
    secret = secrets.token_urlsafe(32)
    db = intake.dbs.get()

    def audit(repo_id: int) -> None:  # inside the insert's transaction: no record, no repo
        new = repos.get(intake.dbs.get(), repo_id)
        common = {"actor": who.actor, "target": f"repo:{repo_id}", "source": _source(request)}
        intake.audit.append_many(
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
        repo = repos.add(
            db,
            intake.keys,
            forge=forge,
            server=server,
            project=data.get("project", ""),
            token=token,
            webhook_secret=secret,
            ca_file=confined_ca_file(ca_file, settings.data_dir) if ca_file else None,
            before_commit=audit,
        )
    except AuditWriteError:
        raise  # fail closed: nothing was registered (503)
    except (ValueError, RevisorError) as exc:
        typed = {k: data.get(k, "") for k in ("forge", "server", "project", "ca_file")}
        return _repos_page(request, status=400, error=str(exc), form=typed)
    return _repo_page(request, repo.id, new_secret=secret, message="Repository added.")


def _repo_page(
    request: Request[Any, Any, Any], repo_id: FromPath[int], *, status: int = 200, **extra: Any
) -> Template:
    settings: Settings = request.app.state.settings
    try:
        repo = repos.get(_intake(request).dbs.get(), repo_id)
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
        **extra,
    )


@get("/repos/{repo_id:int}", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def repo_detail(request: Request[Any, Any, Any], repo_id: FromPath[int]) -> Template:
    return _repo_page(request, repo_id)


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
    request: Request[Any, Any, Any], repo_id: FromPath[int], data: FormData
) -> Template:
    intake = _intake(request)
    _repo_page(request, repo_id)  # 404 first
    try:
        policy = parse_policy(data)
    except ValueError as exc:
        return _repo_page(request, repo_id, status=400, error=str(exc))
    # Audit first: if the record cannot be written, the policy stays as it was (fail closed).
    intake.audit.record(
        Event.CONFIG_CHANGED,
        actor=_who(request).actor,
        target=f"repo:{repo_id}",
        source=_source(request),
        policy=policy,
    )
    repos.set_policy(intake.dbs.get(), repo_id, policy)
    return _repo_page(request, repo_id, message="Policy saved.")


@post(
    "/repos/{repo_id:int}/rotate-secret",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def repo_rotate_secret(request: Request[Any, Any, Any], repo_id: FromPath[int]) -> Template:
    intake = _intake(request)
    db = intake.dbs.get()
    try:
        repo = repos.get(db, repo_id)
    except repos.RepoNotFound:
        raise NotFoundException(f"no repository {repo_id}") from None
    secret = secrets.token_urlsafe(32)
    # Audit first: if the record cannot be written, the secret stays as it was (fail closed).
    intake.audit.record(
        Event.SECRET_ROTATED,
        actor=_who(request).actor,
        target=f"repo:{repo_id}",
        source=_source(request),
        which="webhook_secret",
    )
    repos.set_webhook_secret(db, intake.keys, repo, secret)
    return _repo_page(
        request,
        repo_id,
        new_secret=secret,
        message="Webhook secret rotated. Paste it into the Git server's webhook now.",
    )


# --- models ----------------------------------------------------------------------------------


def _models_page(request: Request[Any, Any, Any], **extra: Any) -> Template:
    settings: Settings = request.app.state.settings
    db = _intake(request).dbs.get()
    model_health = request.app.state.get("model_health")
    configured = [
        {
            "id": e.id,
            "url": e.url,
            "model": e.model,
            "max_concurrency": e.max_concurrency,
            "context_tokens": e.context_tokens,
            "default": False,
            "source": "revisor.toml",
            "has_api_key": bool(e.api_key_file),
        }
        for e in settings.model.endpoints
    ]
    return page(
        request,
        "models.html",
        sidecar=settings.model,
        local_id=LOCAL_ID,
        endpoints=[*configured, *queries.model_endpoints(db)],
        routes=settings.model.routes,
        health=model_health() if model_health else None,
        usage=queries.model_usage(db, time.time() - queries.DAY),
        **extra,
    )


@get("/models", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def models_page(request: Request[Any, Any, Any]) -> Template:
    return _models_page(request)


@post(
    "/models/{endpoint_id:str}/test",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def model_test(request: Request[Any, Any, Any], endpoint_id: FromPath[str]) -> Template:
    """Send the appliance's fixed test prompt to this one endpoint (admins: it costs model
    time). The audit record has the tokens and the outcome, never the answer."""
    intake = _intake(request)
    settings: Settings = request.app.state.settings
    who = _who(request)
    db = intake.dbs.get()
    known = {e.id for e in settings.model.endpoints} | {LOCAL_ID}
    if endpoint_id not in known | {e["id"] for e in queries.model_endpoints(db)}:
        raise NotFoundException(f"no model endpoint {endpoint_id!r}")
    try:
        sidecar: SidecarChoice = sidecar_endpoint(settings) if endpoint_id == LOCAL_ID else "never"
        found = select_endpoints(settings, endpoints.with_keys(db, intake.keys), sidecar=sidecar)
        egress = configured_egress(settings, db, on_refusal=audit_refusals(intake.audit, who.actor))
        result = model_probe.probe(found.endpoints[endpoint_id], egress)
    except ConfigError as exc:
        result = model_probe.ProbeResult(endpoint_id, ok=False, latency_ms=0, error=str(exc))
    intake.audit.record(
        Event.MODEL_REQUEST,
        actor=who.actor,
        target=f"model:{endpoint_id}",
        outcome=Outcome.SUCCESS if result.ok else Outcome.FAILURE,
        source=_source(request),
        purpose="test prompt",
        endpoint=endpoint_id,
        model=result.model,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        latency_ms=result.latency_ms,
        error=result.error[:200],
    )
    if request.headers.get("hx-request"):  # htmx: only the endpoint's test cell
        return page(request, "_model_probe.html", eid=endpoint_id, probe=result)
    return _models_page(request, probe=result)


# --- audit -----------------------------------------------------------------------------------


@get("/audit", guards=[require(AUDIT)], sync_to_thread=True, include_in_schema=False)
def audit_page(request: Request[Any, Any, Any]) -> Template:
    q = request.query_params
    records = queries.search_audit(
        _intake(request).audit.db,
        text=q.get("q", ""),
        event=q.get("event", ""),
        actor=q.get("actor", ""),
    )
    context: dict[str, Any] = {
        "records": records,
        "q": q.get("q", ""),
        "event": q.get("event", ""),
        "actor": q.get("actor", ""),
        "events": [e.value for e in Event],
        "fmt_time": fmt_time,
    }
    if request.headers.get("hx-request"):
        return page(request, "_audit_table.html", **context)
    return page(request, "audit.html", **context)


def _parse_day(value: str) -> float | None:
    from revisor.audit.export import parse_time

    return parse_time(value) if value.strip() else None


@post(
    "/audit/export",
    guards=[require(AUDIT), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def audit_export(request: Request[Any, Any, Any], data: FormData) -> Response[bytes]:
    """A signed export bundle (tar.gz) that `revisor audit verify` checks offline."""
    from revisor.audit.export import ExportError, export_audit

    settings: Settings = request.app.state.settings
    who = _who(request)
    try:
        since, until = _parse_day(data.get("since", "")), _parse_day(data.get("until", ""))
    except ExportError as exc:
        raise ValidationException(str(exc)) from None
    log = AuditLog.from_settings(settings)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "bundle"
            try:
                result = export_audit(
                    log,
                    out,
                    since=since,
                    until=until,
                    formats=("jsonl",),
                    actor=who.actor,
                    source=_source(request),
                )
            except ExportError as exc:
                raise ValidationException(str(exc)) from None
            name = f"revisor-audit-{result.first_seq}-{result.last_seq}"
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                for file in result.files:
                    tar.add(out / file, arcname=f"{name}/{file}")
    finally:
        log.close()
    return Response(
        buf.getvalue(),
        media_type="application/gzip",
        headers={"content-disposition": f'attachment; filename="{name}.tar.gz"'},
    )


# --- settings --------------------------------------------------------------------------------


def effective_settings(settings: Settings) -> dict[str, Any]:
    """The configuration as loaded. It holds no secret values: secrets live in files named
    by `*_file` settings or sealed in the database, so showing the paths is safe."""
    out = dataclasses.asdict(settings)
    out["data_dir"] = str(settings.data_dir)
    return out


@get("/settings", guards=[require(ADMIN)], sync_to_thread=True, include_in_schema=False)
def settings_page(request: Request[Any, Any, Any]) -> Template:
    settings: Settings = request.app.state.settings
    db = _intake(request).dbs.get()
    return page(
        request,
        "settings.html",
        settings_json=json.dumps(
            effective_settings(settings), indent=2, sort_keys=True, default=str
        ),
        break_glass=local.break_glass_enabled(db),
        users=list(
            db.query(
                "SELECT username, source, roles, disabled, last_login_at FROM users"
                " ORDER BY username"
            )
        ),
        fmt_time=fmt_time,
    )


@post(
    "/settings/break-glass/disable",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=303,
)
def disable_break_glass(request: Request[Any, Any, Any]) -> Redirect:
    intake = _intake(request)
    intake.audit.record(
        Event.CONFIG_CHANGED,
        actor=_who(request).actor,
        target=f"user:local:{local.BREAK_GLASS_USER}",
        source=_source(request),
        change="break-glass admin disabled",
    )
    local.disable_break_glass(intake.dbs.get())
    return Redirect("/settings", status_code=303)


routes = [
    overview,
    jobs_page,
    job_detail,
    job_retry,
    job_cancel,
    repos_page,
    repo_add,
    repo_detail,
    repo_policy,
    repo_rotate_secret,
    models_page,
    model_test,
    audit_page,
    audit_export,
    settings_page,
    disable_break_glass,
]
