"""Onboarding at the scale of a company: connect a Git server once, list its projects, enable
review for a project or a whole group, disable it again. The dashboard (`web/dashboard/
onboard.py`) and the CLI (`revisor server connect|test|projects`, `revisor repo enable|
disable`) both call these functions; every step writes its audit record.

Enabling a project registers it like `revisor repo add` does (the server's token, sealed per
repository; a generated webhook secret; its own hook URL), then creates the webhook through the
forge's API (merge-request and comment events, that secret) and asks the server for a test
delivery, which counts as verified once the intake has recorded it. If the webhook cannot be
created, the registration is undone. Enabling a group enables each of its projects this way
(each its own project/repository hook, URL and secret), or, asked for, with ONE group hook
(GitLab group hook, Gitea organisation hook): every project of the group is registered with
one shared secret and the hook posts to the forge's shared URL (`/hooks/<forge>`), where the
intake proves a delivery against the secrets it holds and routes it by its project. A project
added to the group later is not reviewed until it is enabled too (its deliveries are answered
404 "not registered").
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from revisor.audit import AuditLog, AuditRecord, Event, Outcome
from revisor.domain import ForgeKind
from revisor.egress import Egress
from revisor.errors import ConfigError, RevisorError
from revisor.forges import ForgeAdmin, ServerTarget, open_admin, project_path_problem
from revisor.secrets import KeyRing
from revisor.store import connections, repos, servers
from revisor.store.db import now

DELIVERY_WAIT = 5.0  # seconds a test delivery is waited for
GROUP_LIMIT = 500  # projects enabled in one go


class NotConnected(ConfigError):
    pass


@dataclass(frozen=True)
class Actor:
    """Who asks, from where (audit records)."""

    name: str
    source: str = ""


@dataclass(frozen=True)
class Enabled:
    repo: repos.Repo
    hook_id: str
    verified: bool
    note: str  # what the test delivery showed


@dataclass(frozen=True)
class Onboarding:
    """What onboarding works with: the database, keys and audit log of the calling process,
    the egress it may use, and the public URL webhooks are given."""

    db: sqlite_utils.Database
    keys: KeyRing
    audit: AuditLog
    egress: Egress
    public_url: str
    hook_url: Callable[[str, ForgeKind, str], str]
    group_hook_url: Callable[[str, ForgeKind], str] | None = None
    sleep: Callable[[float], None] = time.sleep

    def _admin(self, conn: connections.Connection) -> ForgeAdmin:
        return open_admin(ServerTarget(conn.kind, conn.url, conn.token, conn.ca_file), self.egress)

    def connection(self, url: str) -> connections.Connection:
        canonical = servers.require_allowed(self.db, url)
        conn = connections.get(self.db, self.keys, canonical)
        if conn is None:
            raise NotConnected(
                f"Git server {canonical} is not connected: connect it with an admin or group "
                "token first (`revisor server connect` or the Git servers page)"
            )
        return conn

    # --- the server -------------------------------------------------------------------------

    def connect(
        self, url: str, kind: ForgeKind, token: str, ca_file: str | None, who: Actor
    ) -> str:
        """Check the token with the server, then store it (sealed). Returns who the token is."""
        canonical = servers.require_allowed(self.db, url)
        if not token.strip():
            raise ConfigError("an admin or group token is required")
        target = ServerTarget(kind, canonical, token.strip(), ca_file)
        admin = open_admin(target, self.egress)
        try:
            user = admin.whoami()
        finally:
            admin.close()
        self.audit.append_many(
            [
                AuditRecord(
                    Event.SECRET_CREATED,
                    who.name,
                    f"server:{canonical}",
                    Outcome.SUCCESS,
                    who.source,
                    {"field": "server_token", "kind": kind.value, "user": user},
                )
            ]
        )
        connections.save(
            self.db,
            self.keys,
            url=canonical,
            kind=kind,
            token=target.token,
            ca_file=ca_file,
            connected_by=who.name,
        )
        return user

    def test(self, url: str, who: Actor) -> str:
        conn = self.connection(url)
        admin = self._admin(conn)
        try:
            user = admin.whoami()
        except RevisorError as exc:
            self._checked(conn.url, who, ok=False, detail=str(exc))
            raise
        finally:
            admin.close()
        self._checked(conn.url, who, ok=True, detail=user)
        return user

    def _checked(self, url: str, who: Actor, *, ok: bool, detail: str) -> None:
        self.audit.record(
            Event.REPO_CHECKED,
            actor=who.name,
            target=f"server:{url}",
            outcome=Outcome.SUCCESS if ok else Outcome.FAILURE,
            source=who.source,
            ok=ok,
            detail=detail[:300],
        )

    def projects(self, url: str, group: str | None = None) -> list[tuple[str, repos.Repo | None]]:
        """The projects the token can manage (in `group`), each with its registration."""
        conn = self.connection(url)
        admin = self._admin(conn)
        try:
            found = admin.list_projects(group or None)
        finally:
            admin.close()
        return [(p, repos.get_by_key(self.db, conn.kind, conn.url, p)) for p in found]

    # --- enabling and disabling -------------------------------------------------------------

    def enable(self, url: str, project: str, who: Actor) -> Enabled:
        conn = self.connection(url)
        project = project.strip().strip("/")
        problem = project_path_problem(conn.kind, project)
        if problem:
            raise ConfigError(problem)
        if repos.get_by_key(self.db, conn.kind, conn.url, project) is not None:
            raise repos.RepoExists(f"{project} on {conn.url} is already registered")
        admin = self._admin(conn)
        try:
            return self._enable(conn, admin, project, who)
        finally:
            admin.close()

    def enable_group(
        self, url: str, group: str, who: Actor, *, group_hook: bool = False
    ) -> tuple[list[Enabled], list[tuple[str, str]]]:
        """Enable every project of `group` not registered yet; (enabled, [(project, why)]).
        `group_hook`: with one group (organisation) hook instead of one hook per project."""
        conn = self.connection(url)
        admin = self._admin(conn)
        done: list[Enabled] = []
        failed: list[tuple[str, str]] = []
        try:
            found = admin.list_projects(group)
            todo = [p for p in found if repos.get_by_key(self.db, conn.kind, conn.url, p) is None]
            failed += [(p, f"more than {GROUP_LIMIT} projects") for p in todo[GROUP_LIMIT:]]
            if group_hook:
                return self._with_group_hook(conn, admin, group, todo[:GROUP_LIMIT], who), failed
            for project in todo[:GROUP_LIMIT]:
                try:
                    done.append(self._enable(conn, admin, project, who))
                except RevisorError as exc:
                    failed.append((project, str(exc)))
        finally:
            admin.close()
        return done, failed

    def _with_group_hook(
        self,
        conn: connections.Connection,
        admin: ForgeAdmin,
        group: str,
        projects: list[str],
        who: Actor,
    ) -> list[Enabled]:
        if self.group_hook_url is None:
            raise ConfigError("group hooks need the forge's shared hook URL")
        if connections.group_hook(self.db, conn.url, group) is not None:
            raise repos.RepoExists(f"{group} on {conn.url} already has Revisor's group hook")
        secret = secrets.token_urlsafe(32)
        registered = [self._register(conn, p, secret, who) for p in projects]
        where: dict[str, Any] = {"scope": "group", "path": group}
        try:
            hook_id = admin.create_group_hook(
                group, self.group_hook_url(self.public_url, conn.kind), secret
            )
        except RevisorError as exc:
            self.audit.record(
                Event.HOOK_CREATED,
                actor=who.name,
                target=f"server:{conn.url}",
                outcome=Outcome.FAILURE,
                source=who.source,
                error=str(exc)[:300],
                **where,
            )
            for repo in registered:
                self._unregister(repo, who, reason="the group webhook could not be created")
            raise
        self.audit.record(
            Event.HOOK_CREATED,
            actor=who.name,
            target=f"server:{conn.url}",
            source=who.source,
            hook_id=hook_id,
            events=["merge_request", "comment"],
            projects=len(registered),
            **where,
        )
        row = connections.add_group_hook(self.db, conn.url, group, hook_id, who.name)
        for repo in registered:
            connections.join_group_hook(self.db, repo.id, row)
        asked = now()
        try:
            admin.test_group_hook(group, hook_id)
        except RevisorError as exc:
            verified, note = False, f"no test delivery: {exc}"
        else:
            verified = self._delivered([r.id for r in registered], asked)
            note = "test delivery received" if verified else "no test delivery arrived"
        self.audit.record(
            Event.HOOK_TESTED,
            actor=who.name,
            target=f"server:{conn.url}",
            outcome=Outcome.SUCCESS if verified else Outcome.FAILURE,
            source=who.source,
            hook_id=hook_id,
            note=note[:300],
            **where,
        )
        return [Enabled(repos.get(self.db, r.id), hook_id, verified, note) for r in registered]

    def disable_group(self, url: str, group: str, who: Actor) -> list[repos.Repo]:
        """Delete Revisor's group hook on `group` and unregister the projects it served."""
        conn = self.connection(url)
        found = connections.group_hook(self.db, conn.url, group)
        if found is None:
            raise repos.RepoNotFound(f"{group} on {conn.url} has no group hook made by Revisor")
        row, hook_id = found
        admin = self._admin(conn)
        try:
            admin.delete_group_hook(group, hook_id)
        finally:
            admin.close()
        self.audit.record(
            Event.HOOK_REMOVED,
            actor=who.name,
            target=f"server:{conn.url}",
            source=who.source,
            scope="group",
            path=group,
            hook_id=hook_id,
        )
        members = connections.group_members(self.db, row)
        connections.remove_group_hook(self.db, row)
        return [
            self._unregister(repos.get(self.db, r), who, reason="group review disabled")
            for r in members
        ]

    def _enable(
        self, conn: connections.Connection, admin: ForgeAdmin, project: str, who: Actor
    ) -> Enabled:
        secret = secrets.token_urlsafe(32)
        repo = self._register(conn, project, secret, who)
        hook_target: dict[str, Any] = {"scope": "project", "path": project}
        try:
            hook_id = admin.create_hook(
                project, self.hook_url(self.public_url, conn.kind, repo.hook_key), secret
            )
        except RevisorError as exc:
            self.audit.record(
                Event.HOOK_CREATED,
                actor=who.name,
                target=f"repo:{repo.id}",
                outcome=Outcome.FAILURE,
                source=who.source,
                error=str(exc)[:300],
                **hook_target,
            )
            self._unregister(repo, who, reason="the webhook could not be created")
            raise
        self.audit.record(
            Event.HOOK_CREATED,
            actor=who.name,
            target=f"repo:{repo.id}",
            source=who.source,
            hook_id=hook_id,
            events=["merge_request", "comment"],
            **hook_target,
        )
        connections.set_hook(self.db, repo.id, hook_id)
        verified, note = self._test_delivery(admin, repo, hook_id, who)
        return Enabled(repos.get(self.db, repo.id), hook_id, verified, note)

    def _register(
        self, conn: connections.Connection, project: str, secret: str, who: Actor
    ) -> repos.Repo:
        def registered(repo_id: int) -> None:  # inside the insert's transaction
            common = (who.name, f"repo:{repo_id}", Outcome.SUCCESS, who.source)
            self.audit.append_many(
                [
                    AuditRecord(
                        Event.REPO_ADDED,
                        *common,
                        {"project": project, "server": conn.url, "via": "onboarding"},
                    ),
                    AuditRecord(Event.SECRET_CREATED, *common, {"field": "webhook_secret"}),
                ]
            )

        return repos.add(
            self.db,
            self.keys,
            forge=conn.kind,
            server=conn.url,
            project=project,
            token=conn.token,
            webhook_secret=secret,
            ca_file=conn.ca_file,
            before_commit=registered,
        )

    def _test_delivery(
        self, admin: ForgeAdmin, repo: repos.Repo, hook_id: str, who: Actor
    ) -> tuple[bool, str]:
        asked = now()
        try:
            admin.test_hook(repo.project, hook_id)
        except RevisorError as exc:
            verified, note = False, f"the test delivery was refused: {exc}"
        else:
            verified = self._delivered([repo.id], asked)
            note = (
                "test delivery received"
                if verified
                else f"no test delivery arrived within {DELIVERY_WAIT:.0f} s: can the Git "
                f"server reach {self.public_url}?"
            )
        self.audit.record(
            Event.HOOK_TESTED,
            actor=who.name,
            target=f"repo:{repo.id}",
            outcome=Outcome.SUCCESS if verified else Outcome.FAILURE,
            source=who.source,
            scope="project",
            path=repo.project,
            hook_id=hook_id,
            note=note[:300],
        )
        return verified, note

    def _delivered(self, repo_ids: list[int], since: float) -> bool:
        """Whether the intake recorded a delivery for one of `repo_ids` since `since`, waiting
        up to DELIVERY_WAIT seconds (Gitea sends its test delivery after answering)."""

        def arrived() -> bool:
            return any(connections.deliveries_since(self.db, r, since) for r in repo_ids)

        for _ in range(int(DELIVERY_WAIT / 0.1)):
            if arrived():
                return True
            self.sleep(0.1)
        return arrived()

    def disable(self, repo_id: int, who: Actor) -> repos.Repo:
        """Delete the webhook Revisor created (if any), then the registration."""
        repo = repos.get(self.db, repo_id)
        hook_id = connections.hook_of(self.db, repo_id)
        if hook_id is not None:
            conn = self.connection(repo.server)
            admin = self._admin(conn)
            try:
                admin.delete_hook(repo.project, hook_id)
            finally:
                admin.close()
            self.audit.record(
                Event.HOOK_REMOVED,
                actor=who.name,
                target=f"repo:{repo_id}",
                source=who.source,
                scope="project",
                path=repo.project,
                hook_id=hook_id,
            )
        return self._unregister(repo, who, reason="review disabled")

    def _unregister(self, repo: repos.Repo, who: Actor, *, reason: str) -> repos.Repo:
        def audit(gone: repos.Repo) -> None:
            self.audit.record(
                Event.REPO_REMOVED,
                actor=who.name,
                target=f"repo:{gone.id}",
                source=who.source,
                project=gone.project,
                reason=reason,
            )

        return repos.remove(self.db, repo.id, before_commit=audit)
