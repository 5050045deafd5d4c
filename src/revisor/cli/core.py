"""Core commands: init, jobs, repo (serve, worker and up are in `cli/processes.py`)."""

from __future__ import annotations

import argparse
import json
import os
import secrets
from pathlib import Path
from typing import Any

from revisor import config, jobactions
from revisor.audit import AuditLog, AuditRecord, Event, Outcome
from revisor.audit.keys import SIGNING_KEY_NAME, ensure_signing_key
from revisor.cli import add_common, cli_actor
from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.errors import ConfigError, RevisorError
from revisor.forges import hooks_for, project_path_problem
from revisor.gitservers import CA_DIR_NAME
from revisor.secrets import KeyRing, read_secret_file
from revisor.store import jobs, repos, servers
from revisor.store.db import open_database
from revisor.web.auth.local import ensure_break_glass_admin
from revisor.web.hook_urls import hook_url
from revisor.worker.queue import Queue


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="create the data dir, config, databases and keys (idempotent)")
    add_common(p, json_flag=True)
    p.add_argument(
        "--self-signed-tls",
        action="store_true",
        help="also make a self-signed certificate and serve HTTPS with it ([web] tls_cert)",
    )
    p.add_argument(
        "--tls-hostname",
        default=None,
        help="the certificate's host name (default: the host of [server] public_url, else"
        " this machine's name); 127.0.0.1 is always included",
    )
    p.set_defaults(func=cmd_init)

    jp = sub.add_parser("jobs", help="list, show, retry and cancel review jobs")
    jsub = jp.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    p = jsub.add_parser("list", help="list jobs, newest first")
    add_common(p, json_flag=True)
    p.add_argument("--state", choices=jobs.STATES)
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_jobs_list)
    for name, func, text in (
        ("show", cmd_jobs_show, "show one job"),
        ("retry", cmd_jobs_retry, "queue a failed (dead-letter) or cancelled job again"),
        ("cancel", cmd_jobs_cancel, "cancel a queued or running job"),
    ):
        p = jsub.add_parser(name, help=text)
        add_common(p, json_flag=True)
        p.add_argument("id", type=int)
        p.set_defaults(func=func)

    rp = sub.add_parser("repo", help="register Git repositories")
    rsub = rp.add_subparsers(dest="repo_command", required=True, metavar="ACTION")
    p = rsub.add_parser("add", help="register a repository and print its webhook URL and secret")
    add_common(p, json_flag=True)
    p.add_argument("forge", choices=[f.value for f in ForgeKind])
    p.add_argument(
        "--server", required=True, help="base URL of a Git server allowed with `server add`"
    )
    p.add_argument("--project", required=True, help="group/project (GitLab) or owner/repo (Gitea)")
    p.add_argument("--token-file", required=True, help="file holding the API token")
    p.add_argument("--webhook-secret-file", help="file holding the webhook secret (else generated)")
    p.add_argument("--signing-secret-file", help="GitLab signed webhooks: the signing token")
    p.add_argument("--ca-file", help="CA bundle for a Git server with an internal CA")
    p.set_defaults(func=cmd_repo_add)
    p = rsub.add_parser("list", help="list registered repositories")
    add_common(p, json_flag=True)
    p.set_defaults(func=cmd_repo_list)
    p = rsub.add_parser("remove", help="unregister a repository")
    add_common(p, json_flag=True)
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_repo_remove)
    from revisor.cli.onboard import add_repo_actions

    add_repo_actions(rsub)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text)


# --- init ---------------------------------------------------------------------------------------


def init_data_dir(settings: config.Settings) -> dict[str, Any]:
    """Create what is missing; never change what exists. Returns what was created."""
    created: list[str] = []
    d = settings.data_dir
    if not d.exists():
        d.mkdir(parents=True, mode=0o700)
        created.append(str(d))
    for sub in (settings.keys_dir, settings.log_dir, d / CA_DIR_NAME):
        if not sub.exists():
            sub.mkdir(mode=0o700)
            created.append(str(sub))
    cfg = d / config.CONFIG_NAME
    if not cfg.exists():
        fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(config.DEFAULT_TOML)
        created.append(str(cfg))
    if not list(settings.keys_dir.glob("kek-*.key")):
        KeyRing.create_key(settings.keys_dir)
        created.append("key-encryption key")
    signing = settings.keys_dir / SIGNING_KEY_NAME
    if not signing.exists() and not settings.audit.signer_socket:  # else `revisor signer`'s
        ensure_signing_key(settings.keys_dir)
        created.append(str(signing))
    for path in (settings.db_path, settings.audit_path, settings.queue_path):
        if not path.exists():
            created.append(str(path))
    db = open_database(settings.db_path)
    try:
        admin_password = ensure_break_glass_admin(db)
    finally:
        db.conn.close()
    AuditLog(settings.audit_path).close()
    Queue(settings)  # creates Huey's tables
    result: dict[str, Any] = {"data_dir": str(d), "created": created}
    if admin_password is not None:
        created.append("break-glass admin 'admin'")
        result["admin_password"] = admin_password
    return result


def setup_self_signed_tls(settings: config.Settings, hostname: str | None) -> dict[str, Any]:
    """Make the certificate (kept if it exists) and point the configuration at it."""
    from revisor.web import tls

    web = settings.web
    tls_dir = settings.data_dir / "tls"
    cert = settings.data_path(web.tls_cert) if web.tls else tls_dir / "cert.pem"
    key = settings.data_path(web.tls_key) if web.tls else tls_dir / "key.pem"
    names = (hostname,) if hostname else tls.default_hostnames(settings.server.public_url)
    files = tls.ensure_self_signed(cert, key, names)
    result: dict[str, Any] = {
        "tls_cert": str(cert),
        "tls_key": str(key),
        "tls_hostnames": list(names),
        "tls_created": files.created,
        "config_updated": False,
    }
    if web.tls:
        return result
    cfg = (settings.data_dir / config.CONFIG_NAME).resolve()
    text = config.set_missing(
        cfg.read_text(encoding="utf-8"), "web", {"tls_cert": str(cert), "tls_key": str(key)}
    )
    text = config.set_missing(
        text, "server", {"public_url": f"https://{names[0]}:{settings.server.port}"}
    )
    try:
        _replace_file(cfg, text)
        result["config_updated"] = True
    except OSError as exc:  # /etc/revisor is root's: say what to add rather than fail
        result["config_note"] = (
            f"could not update {cfg} ({exc.strerror}); add under [web]:"
            f" tls_cert = {json.dumps(str(cert))} and tls_key = {json.dumps(str(key))}"
        )
    return result


def _replace_file(path: Path, text: str) -> None:
    """Write `path` through a temporary file and rename, keeping its mode."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, path.stat().st_mode & 0o777)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def cmd_init(args: argparse.Namespace, rt: Context) -> int:
    if args.tls_hostname and not args.self_signed_tls:
        raise ConfigError("--tls-hostname needs --self-signed-tls")
    result = init_data_dir(rt.settings)
    if args.self_signed_tls:
        tls_result = setup_self_signed_tls(rt.settings, args.tls_hostname)
        result.update(tls_result)
        if tls_result["tls_created"]:
            names = ", ".join([*tls_result["tls_hostnames"], "127.0.0.1"])
            result["created"].append(f"self-signed certificate {tls_result['tls_cert']} ({names})")
        if tls_result["config_updated"]:
            result["created"].append(f"[web] tls_cert and tls_key in {config.CONFIG_NAME}")
    text = (
        "\n".join(f"created {c}" for c in result["created"])
        if result["created"]
        else f"{result['data_dir']} is already initialised; nothing changed"
    )
    if "config_note" in result:
        text += f"\n{result['config_note']}"
    if "admin_password" in result:
        text += (
            f"\nbreak-glass admin password: {result['admin_password']}"
            "\n(shown once; sign in as 'admin', then disable it once LDAP works)"
        )
    emit(args, result, text)
    return 0


# --- jobs ---------------------------------------------------------------------------------------


def _job_line(job: jobs.Job) -> str:
    err = f"  {job.last_error[:80]}" if job.last_error else ""
    return (
        f"{job.id:>6}  {job.state:<10}  repo {job.repo_id:<3} !{job.mr_number:<5}"
        f" {job.head_sha[:10]:<10}  attempts {job.attempts}{err}"
    )


def cmd_jobs_list(args: argparse.Namespace, rt: Context) -> int:
    found = jobs.list_jobs(rt.db, state=args.state, limit=args.limit)
    emit(args, [j.public() for j in found], "\n".join(_job_line(j) for j in found) or "no jobs")
    return 0


def _require_job(rt: Context, job_id: int) -> jobs.Job:
    job = jobs.get(rt.db, job_id)
    if job is None:
        raise RevisorError(f"no job with id {job_id}")
    return job


def cmd_jobs_show(args: argparse.Namespace, rt: Context) -> int:
    job = _require_job(rt, args.id)
    emit(args, job.public(), json.dumps(job.public(), indent=2, default=str))
    return 0


def cmd_jobs_retry(args: argparse.Namespace, rt: Context) -> int:
    done = jobactions.retry(
        rt.db, rt.audit, args.id, actor=cli_actor(), enqueue=Queue(rt.settings).enqueue
    )
    if not done.changed:
        raise RevisorError(
            f"job {done.job_id} is {done.previous_state};"
            " only failed or cancelled jobs can be retried"
        )
    emit(args, {"id": done.job_id, "state": "queued"}, f"job {done.job_id} queued again")
    return 0


def cmd_jobs_cancel(args: argparse.Namespace, rt: Context) -> int:
    done = jobactions.cancel(
        rt.db, rt.audit, args.id, actor=cli_actor(), enqueue=Queue(rt.settings).enqueue
    )
    if not done.changed:
        raise RevisorError(
            f"job {done.job_id} is {done.previous_state};"
            " only queued or running jobs can be cancelled"
        )
    emit(args, {"id": done.job_id, "state": "cancelled"}, f"job {done.job_id} cancelled")
    return 0


# --- repo ---------------------------------------------------------------------------------------


def cmd_repo_add(args: argparse.Namespace, rt: Context) -> int:
    forge = ForgeKind(args.forge)
    server = servers.require_allowed(rt.db, args.server)  # a clear error, exit 2
    problem = project_path_problem(forge, args.project.strip().strip("/"))
    if problem:
        raise ConfigError(problem)
    token = read_secret_file(args.token_file)
    generated = args.webhook_secret_file is None
    secret = secrets.token_urlsafe(32) if generated else read_secret_file(args.webhook_secret_file)
    if len(secret) < 16:
        raise ConfigError("the webhook secret must be at least 16 characters")
    signing = read_secret_file(args.signing_secret_file) if args.signing_secret_file else None
    if signing and not hooks_for(forge).signs_deliveries:
        raise ConfigError("--signing-secret-file is for GitLab signed webhooks only")
    if args.ca_file and not Path(args.ca_file).is_file():
        raise ConfigError(f"CA file {args.ca_file} does not exist")
    actor = cli_actor()

    def audit(repo_id: int) -> None:  # inside the insert's transaction: no record, no repo
        target, project = f"repo:{repo_id}", repos.get(rt.db, repo_id).project
        fields = ("token", "webhook_secret", *(["signing_secret"] if signing else []))
        rt.audit.append_many(
            [
                AuditRecord(
                    Event.REPO_ADDED, actor, target, Outcome.SUCCESS, "", {"project": project}
                ),
                *(
                    AuditRecord(
                        Event.SECRET_CREATED, actor, target, Outcome.SUCCESS, "", {"field": f}
                    )
                    for f in fields
                ),
            ]
        )

    repo = repos.add(
        rt.db,
        rt.keys,
        forge=forge,
        server=server,
        project=args.project,
        token=token,
        webhook_secret=secret,
        signing_secret=signing,
        ca_file=str(Path(args.ca_file).resolve()) if args.ca_file else None,
        before_commit=audit,
    )
    url = hook_url(rt.settings.public_base_url, forge, repo.hook_key)
    data = {**repo.public(), "webhook_url": url, "webhook_secret": secret if generated else None}
    lines = [
        f"registered repository {repo.id}: {forge.value} {repo.project} on {repo.server}",
        f"webhook URL:    {url}",
    ]
    if generated:
        lines.append(f"webhook secret: {secret}   (shown once; paste it into the Git server)")
    emit(args, data, "\n".join(lines))
    return 0


def cmd_repo_list(args: argparse.Namespace, rt: Context) -> int:
    found = repos.list_all(rt.db)
    text = "\n".join(
        f"{r.id:>4}  {r.forge.value:<7} {r.project:<40} {r.server}"
        + ("" if r.enabled else "  (disabled)")
        for r in found
    )
    emit(args, [r.public() for r in found], text or "no repositories")
    return 0


def cmd_repo_remove(args: argparse.Namespace, rt: Context) -> int:
    def audit(repo: repos.Repo) -> None:  # inside the delete's transaction
        rt.audit.record(
            Event.REPO_REMOVED, actor=cli_actor(), target=f"repo:{repo.id}", project=repo.project
        )

    repo = repos.remove(rt.db, args.id, before_commit=audit)
    emit(args, repo.public(), f"removed repository {repo.id} ({repo.project})")
    return 0
