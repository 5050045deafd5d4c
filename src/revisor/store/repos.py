"""Registered repositories. Tokens and webhook secrets are stored sealed (see revisor.secrets)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from revisor.domain import ForgeKind
from revisor.errors import RevisorError
from revisor.gitservers import canonical_server_url
from revisor.secrets import KeyRing, aad_for
from revisor.store.db import now


class RepoNotFound(RevisorError):
    pass


class RepoExists(RevisorError):
    pass


@dataclass(frozen=True)
class Repo:
    id: int
    forge: ForgeKind
    server: str
    project: str
    ca_file: str | None
    enabled: bool
    policy: dict[str, Any] = field(default_factory=dict)
    has_signing_secret: bool = False
    hook_key: str = ""  # the last part of its own hook URL (not a secret)

    @property
    def row_key(self) -> str:
        return row_key(self.forge, self.server, self.project)

    def public(self) -> dict[str, Any]:
        """What may be shown to anyone with access to the dashboard or CLI (no secrets)."""
        return {
            "id": self.id,
            "forge": self.forge.value,
            "server": self.server,
            "project": self.project,
            "ca_file": self.ca_file,
            "enabled": self.enabled,
            "policy": self.policy,
            "hook_key": self.hook_key,
        }


@dataclass(frozen=True)
class RepoSecrets:
    token: str
    webhook_secret: str
    signing_secret: str | None

    def __repr__(self) -> str:  # never let a secret reach a log through repr()
        return "RepoSecrets(<redacted>)"


def new_hook_key() -> str:
    """A repository's hook URL key: 128 random bits, URL-safe. Not a secret (it travels in URLs
    and logs); it only routes a delivery to the one repository whose secret must prove it."""
    return secrets.token_urlsafe(16)


def row_key(forge: ForgeKind | str, server: str, project: str) -> str:
    return f"{ForgeKind(forge).value}:{server}:{project}"


def normalize_server(url: str) -> str:
    """The canonical form of a Git server URL; `gitservers.BadServerURL` if it is refused."""
    return canonical_server_url(url)


def _from_row(row: dict[str, Any]) -> Repo:
    return Repo(
        id=row["id"],
        forge=ForgeKind(row["forge"]),
        server=row["server"],
        project=row["project"],
        ca_file=row["ca_file"],
        enabled=bool(row["enabled"]),
        policy=json.loads(row["policy"] or "{}"),
        has_signing_secret=row["signing_secret_enc"] is not None,
        hook_key=row["hook_key"] or "",
    )


def add(
    db: sqlite_utils.Database,
    keys: KeyRing,
    *,
    forge: ForgeKind,
    server: str,
    project: str,
    token: str,
    webhook_secret: str,
    signing_secret: str | None = None,
    ca_file: str | None = None,
    before_commit: Callable[[int], None] | None = None,
) -> Repo:
    """Register a repository. `before_commit(new_id)` (the audit records) runs inside the
    transaction: if it raises, nothing is registered."""
    server = normalize_server(server)
    project = project.strip().strip("/")
    key = row_key(forge, server, project)
    if get_by_key(db, forge, server, project) is not None:
        raise RepoExists(f"{forge.value} repository {project} on {server} is already registered")
    with db.conn:
        db.conn.execute("BEGIN IMMEDIATE")  # db.execute alone would commit the INSERT at once
        cursor = db.execute(
            "INSERT INTO repos (forge, server, project, token_enc, webhook_secret_enc,"
            " signing_secret_enc, ca_file, hook_key, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                forge.value,
                server,
                project,
                keys.seal(token, aad_for("repos", key, "token")),
                keys.seal(webhook_secret, aad_for("repos", key, "webhook_secret")),
                keys.seal(signing_secret, aad_for("repos", key, "signing_secret"))
                if signing_secret
                else None,
                ca_file,
                new_hook_key(),
                now(),
            ],
        )
        if cursor.lastrowid is None:
            raise RuntimeError("SQLite did not return the new repository's id")
        if before_commit is not None:
            before_commit(cursor.lastrowid)
    return get(db, cursor.lastrowid)


def get(db: sqlite_utils.Database, repo_id: int) -> Repo:
    rows = list(db.query("SELECT * FROM repos WHERE id = ?", [repo_id]))
    if not rows:
        raise RepoNotFound(f"no repository with id {repo_id}")
    return _from_row(rows[0])


def get_by_key(
    db: sqlite_utils.Database, forge: ForgeKind, server: str, project: str
) -> Repo | None:
    rows = list(
        db.query(
            "SELECT * FROM repos WHERE forge = ? AND server = ? AND project = ?",
            [forge.value, server, project],
        )
    )
    return _from_row(rows[0]) if rows else None


def version(db: sqlite_utils.Database) -> int:
    """Bumped by every insert, update and delete on `repos` (triggers, migration 004)."""
    row = db.execute("SELECT version FROM repos_version WHERE id = 1").fetchone()
    return int(row[0])


def list_all(db: sqlite_utils.Database) -> list[Repo]:
    return [_from_row(r) for r in db.query("SELECT * FROM repos ORDER BY id")]


def remove(
    db: sqlite_utils.Database, repo_id: int, before_commit: Callable[[Repo], None] | None = None
) -> Repo:
    repo = get(db, repo_id)
    with db.conn:
        db.conn.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM repos WHERE id = ?", [repo_id])
        if before_commit is not None:
            before_commit(repo)  # the audit record: if it raises, the repository stays
    return repo


def load_secrets(db: sqlite_utils.Database, keys: KeyRing, repo: Repo) -> RepoSecrets:
    row = next(
        db.query(
            "SELECT token_enc, webhook_secret_enc, signing_secret_enc FROM repos WHERE id = ?",
            [repo.id],
        )
    )
    key = repo.row_key
    signing = row["signing_secret_enc"]
    return RepoSecrets(
        token=keys.open_str(row["token_enc"], aad_for("repos", key, "token")),
        webhook_secret=keys.open_str(
            row["webhook_secret_enc"], aad_for("repos", key, "webhook_secret")
        ),
        signing_secret=keys.open_str(signing, aad_for("repos", key, "signing_secret"))
        if signing
        else None,
    )


def set_webhook_secret(db: sqlite_utils.Database, keys: KeyRing, repo: Repo, secret: str) -> None:
    with db.conn:
        db.execute(
            "UPDATE repos SET webhook_secret_enc = ? WHERE id = ?",
            [keys.seal(secret, aad_for("repos", repo.row_key, "webhook_secret")), repo.id],
        )


def set_policy(db: sqlite_utils.Database, repo_id: int, policy: dict[str, Any]) -> None:
    with db.conn:
        db.execute("UPDATE repos SET policy = ? WHERE id = ?", [json.dumps(policy), repo_id])
