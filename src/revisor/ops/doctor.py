"""`revisor doctor`: run every check in a sensible order and collect the results.

The order matters: the file-level checks come first and use read-only handles. Only when the
database is sound and migrated does the doctor open it through the `Context` (which would apply
pending migrations and so hide them) for the checks that need registered repositories, sealed
tokens and model endpoints.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection

from revisor.context import Context
from revisor.egress import Egress, audit_refusals
from revisor.errors import RevisorError
from revisor.forges import ForgeTarget
from revisor.llm.registry import uses_embedded_model
from revisor.ops import checks, gpucheck
from revisor.ops.checks import Check
from revisor.ops.vllm_check import check_vllm
from revisor.outbound import configured_egress, model_health
from revisor.store import endpoints, repos

GROUPS = (
    "permissions",
    "keys",
    "database",
    "migrations",
    "queue",
    "disk",
    "models",
    "gpu",
    "model_endpoint",
    "egress",
    "forges",
    "clock",
    "ldap",
)


def run_doctor(rt: Context, *, skip: Collection[str] = (), timeout: float = 5.0) -> list[Check]:
    """All checks, in order; `skip` names groups from `GROUPS` to leave out."""
    s = rt.settings
    out: list[Check] = []

    def want(group: str) -> bool:
        if group in skip:
            out.append(checks.skipped(group, "skipped on request (--skip)"))
            return False
        return True

    if want("permissions"):
        out += checks.guarded("permissions", lambda: checks.check_permissions(s))
    if not s.data_dir.is_dir():
        return out  # nothing else can be looked at; the permissions check says what to do
    if want("keys"):
        out += checks.guarded("keys", lambda: checks.check_keys(s))
    dbs_ok = True
    if want("database"):
        for path in (s.db_path, s.audit_path, s.queue_path):
            result = checks.check_database(path, s.data_dir)
            out.append(result)
            dbs_ok = dbs_ok and result.ok
    migrated = dbs_ok
    if dbs_ok and want("migrations"):
        result = checks.check_migrations(s)
        out.append(result)
        migrated = result.ok
    if dbs_ok and want("queue"):
        out.append(checks.check_queue(s))
    if want("disk"):
        out.append(checks.check_disk(s.data_dir))
    if want("models"):
        out += checks.guarded("models", lambda: checks.check_models(s))
        out += checks.guarded("vllm", lambda: check_vllm(s))
    if want("gpu"):
        out += checks.guarded("gpu", lambda: gpucheck.check_gpu(s))
    if not migrated:
        out.append(
            checks.skipped(
                "configuration",
                "model endpoint, egress, Git servers, clock and LDAP not checked: "
                "fix the database first",
            )
        )
        return out
    out += _runtime_checks(rt, skip=skip, timeout=timeout)
    return out


def _runtime_checks(rt: Context, *, skip: Collection[str], timeout: float) -> list[Check]:
    """Checks that need the registered repositories, sealed tokens and model endpoints."""
    s = rt.settings
    out: list[Check] = []

    def refusals(host: str, purpose: str) -> None:  # opens the audit log only if needed
        audit_refusals(rt.audit, rt.actor)(host, purpose)

    def egress() -> Egress:
        return configured_egress(s, rt.db, on_refusal=refusals)

    def wanted(group: str) -> bool:
        if group in skip:
            out.append(checks.skipped(group, "skipped on request (--skip)"))
            return False
        return True

    if wanted("model_endpoint"):
        out += checks.guarded(
            "model_endpoint",
            lambda: [
                checks.check_model_endpoint(
                    model_health(s, rt.db, rt.keys, on_refusal=refusals),
                    uses_embedded_model(s, endpoints.list_endpoints(rt.db)),
                )
            ],
        )
    registered = [r for r in repos.list_all(rt.db) if r.enabled]
    model_urls = endpoints.urls(rt.db)
    if wanted("egress"):
        out += checks.guarded(
            "egress",
            lambda: [checks.check_egress(s, [r.server for r in registered], model_urls)],
        )
    times: list[tuple[str, float]] = []
    if wanted("forges"):
        if not registered:
            out.append(checks.skipped("forges", "no repository registered yet"))
        for repo in registered:
            probe = functools.partial(_probe_repo, rt, egress, repo, timeout, times)
            out += checks.guarded(f"forge:{repo.id}", probe)
    if wanted("clock"):
        out.append(checks.check_clock(times))
    if wanted("ldap"):
        out += checks.guarded("ldap", lambda: [checks.check_ldap(s.ldap, egress())])
    return out


def _probe_repo(
    rt: Context,
    egress: Callable[[], Egress],
    repo: repos.Repo,
    timeout: float,
    times: list[tuple[str, float]],
) -> list[Check]:
    name = f"forge:{repo.id}"
    try:
        token = repos.load_secrets(rt.db, rt.keys, repo).token
    except RevisorError as exc:
        return [
            checks.failed(
                name,
                f"cannot decrypt the token of repository {repo.id}: {exc}",
                "restore the key-encryption key that sealed it (keys/), or register the "
                "repository again",
            )
        ]
    target = ForgeTarget(repo.forge, repo.server, repo.project, token, repo.ca_file)
    probe = checks.check_forge(target, egress(), name=name, timeout=timeout)
    if probe.server_time is not None:
        times.append((repo.server, probe.server_time))
    return [probe.check]
