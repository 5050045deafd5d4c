"""Opening Revisor's SQLite database and migrating it.

One explicit `Database` object (sqlite-utils) is passed to whoever needs it. Every connection uses
WAL with `synchronous=FULL`, so a row committed before a webhook is answered survives power loss.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from revisor.sqlitefile import connect, now
from revisor.store.migrations_conversations import m007_conversations
from revisor.store.migrations_dashboard import m007_dashboard

__all__ = ["PerThread", "connect", "migrate", "now", "open_database", "pending_migrations"]

Migration = Callable[[sqlite_utils.Database], None]


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE repos (
            id INTEGER PRIMARY KEY,
            forge TEXT NOT NULL CHECK (forge IN ('gitlab', 'gitea')),
            server TEXT NOT NULL,
            project TEXT NOT NULL,
            token_enc BLOB NOT NULL,
            webhook_secret_enc BLOB NOT NULL,
            signing_secret_enc BLOB,
            ca_file TEXT,
            policy TEXT NOT NULL DEFAULT '{}',
            enabled INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL,
            UNIQUE (forge, server, project)
        );
        CREATE TABLE deliveries (
            key TEXT PRIMARY KEY,
            repo_id INTEGER REFERENCES repos(id) ON DELETE SET NULL,
            event TEXT NOT NULL,
            outcome TEXT NOT NULL,
            job_id INTEGER,
            received_at REAL NOT NULL
        );
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
            mr_number INTEGER NOT NULL,
            head_sha TEXT NOT NULL,
            trigger TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN
                ('queued', 'running', 'done', 'failed', 'superseded', 'skipped', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before REAL NOT NULL DEFAULT 0,
            enqueued_at REAL,
            lease_owner TEXT,
            lease_expires REAL,
            stage TEXT,
            last_error TEXT,
            result TEXT,
            request_id TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL
        );
        CREATE INDEX jobs_state ON jobs (state, not_before);
        CREATE INDEX jobs_mr ON jobs (repo_id, mr_number, state);
        CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
            repo_id INTEGER,
            model TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            latency_ms INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX usage_job ON usage (job_id);
        """
    )


def _m002_models(db: sqlite_utils.Database) -> None:
    """External model endpoints registered with `revisor model add` (see llm/registry.py)."""
    db.executescript(
        """
        CREATE TABLE model_endpoints (
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            model TEXT NOT NULL,
            api_key_enc BLOB,
            max_concurrency INTEGER NOT NULL DEFAULT 1,
            context_tokens INTEGER NOT NULL DEFAULT 8192,
            is_default INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        );
        """
    )


def _m003_auth(db: sqlite_utils.Database) -> None:
    """Dashboard sign-in (see web/auth/): users seen or created, server-side sessions, attempts.

    Session ids are stored as sha256 digests, so a copy of the database does not hand out live
    sessions. `users.password_hash` is only set for the local break-glass admin (argon2id).
    """
    db.executescript(
        """
        CREATE TABLE users (
            username TEXT PRIMARY KEY,
            source TEXT NOT NULL CHECK (source IN ('local', 'ldap')),
            display_name TEXT NOT NULL DEFAULT '',
            password_hash TEXT,
            roles TEXT NOT NULL DEFAULT '',
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            last_login_at REAL
        );
        CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            roles TEXT NOT NULL,
            csrf TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            last_seen REAL NOT NULL
        );
        CREATE INDEX sessions_user ON sessions (username);
        CREATE TABLE login_attempts (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL,
            address TEXT NOT NULL,
            ok INTEGER NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX login_attempts_user ON login_attempts (username, at);
        CREATE INDEX login_attempts_address ON login_attempts (address, at);
        """
    )


def _m004_repos_version(db: sqlite_utils.Database) -> None:
    """A counter that every change to `repos` bumps (triggers, so no code path can forget), for
    processes that cache what they read from it (the intake caches decrypted webhook secrets)."""
    db.executescript(
        """
        CREATE TABLE repos_version (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL
        );
        INSERT INTO repos_version (id, version) VALUES (1, 0);
        CREATE TRIGGER repos_inserted AFTER INSERT ON repos
            BEGIN UPDATE repos_version SET version = version + 1; END;
        CREATE TRIGGER repos_updated AFTER UPDATE ON repos
            BEGIN UPDATE repos_version SET version = version + 1; END;
        CREATE TRIGGER repos_deleted AFTER DELETE ON repos
            BEGIN UPDATE repos_version SET version = version + 1; END;
        """
    )


def _m005_repo_hook_keys(db: sqlite_utils.Database) -> None:
    """Each repository's own hook URL key (`/hooks/<forge>/<hook_key>`), so a delivery is checked
    against one secret; existing repositories get theirs here."""
    from revisor.store.repos import new_hook_key  # repos imports this module

    db.execute("ALTER TABLE repos ADD COLUMN hook_key TEXT")
    for (repo_id,) in db.execute("SELECT id FROM repos").fetchall():
        db.execute("UPDATE repos SET hook_key = ? WHERE id = ?", [new_hook_key(), repo_id])
    db.execute("CREATE UNIQUE INDEX repos_hook_key ON repos (hook_key)")


def _m006_git_servers(db: sqlite_utils.Database) -> None:
    """Allowed Git servers (see store/servers.py). On upgrade, the servers of repositories
    registered before this list existed are allowed, so nothing that worked stops working;
    a stored server URL that fails today's URL check is not allowed (its repository's jobs
    fail with an egress refusal until an admin registers it again under a valid URL)."""
    from revisor.errors import ConfigError
    from revisor.gitservers import canonical_server_url

    db.executescript(
        """
        CREATE TABLE git_servers (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            added_by TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        """
    )
    for (server,) in db.execute("SELECT DISTINCT server FROM repos ORDER BY server").fetchall():
        try:
            url = canonical_server_url(server)
        except ConfigError:
            continue
        db.execute(
            "INSERT OR IGNORE INTO git_servers (url, added_by, created_at) VALUES (?, ?, ?)",
            [url, "migration:006_git_servers", now()],
        )


def _m007_transcripts(db: sqlite_utils.Database) -> None:
    """Review transcripts (store/transcripts.py): what the model saw and answered and what was
    posted, sealed, kept `repos.transcript_days` days (0: not kept) and purged on schedule."""
    db.executescript(
        """
        ALTER TABLE repos ADD COLUMN transcript_days INTEGER NOT NULL DEFAULT 30;
        CREATE TABLE transcripts (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            entry_key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('exchange', 'outcome')),
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            body_enc BLOB NOT NULL
        );
        CREATE INDEX transcripts_job ON transcripts (job_id, id);
        CREATE INDEX transcripts_expiry ON transcripts (expires_at);
        """
    )


def _m008_onboarding(db: sqlite_utils.Database) -> None:
    """A Git server connected once (store/connections.py): its kind, an admin or group token
    (sealed) and its CA bundle; and the id of the webhook Revisor created for a repository."""
    db.executescript(
        """
        ALTER TABLE git_servers ADD COLUMN kind TEXT;
        ALTER TABLE git_servers ADD COLUMN token_enc BLOB;
        ALTER TABLE git_servers ADD COLUMN ca_file TEXT;
        ALTER TABLE git_servers ADD COLUMN connected_by TEXT;
        ALTER TABLE git_servers ADD COLUMN connected_at REAL;
        ALTER TABLE repos ADD COLUMN hook_id TEXT;
        CREATE TABLE group_hooks (
            id INTEGER PRIMARY KEY,
            server TEXT NOT NULL,
            grp TEXT NOT NULL,
            hook_id TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (server, grp)
        );
        ALTER TABLE repos ADD COLUMN group_hook INTEGER REFERENCES group_hooks(id);
        """
    )


MIGRATIONS: list[tuple[str, Migration]] = [
    ("001_initial", _m001_initial),
    ("002_models", _m002_models),
    ("003_auth", _m003_auth),
    ("004_repos_version", _m004_repos_version),
    ("005_repo_hook_keys", _m005_repo_hook_keys),
    ("006_git_servers", _m006_git_servers),
    ("007_transcripts", _m007_transcripts),
    ("008_onboarding", _m008_onboarding),
    ("009_conversations", m007_conversations),
    ("010_dashboard", m007_dashboard),
]


def migrate(
    db: sqlite_utils.Database, migrations: list[tuple[str, Migration]] | None = None
) -> list[str]:
    """Apply pending migrations in order, each in its own transaction. Returns the names applied."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for name, fn in migrations or MIGRATIONS:
        if name in done:
            continue
        with db.conn:
            fn(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", [name, now()])
        applied.append(name)
    return applied


def pending_migrations(db: sqlite_utils.Database) -> list[str]:
    if not db["_migrations"].exists():
        return [name for name, _ in MIGRATIONS]
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    return [name for name, _ in MIGRATIONS if name not in done]


def open_database(path: Path | str) -> sqlite_utils.Database:
    db = connect(path)
    migrate(db)
    return db


class PerThread:
    """One connection per thread for code that serves requests from a thread pool.

    sqlite3 connections must not interleave transactions from several threads; giving each
    thread its own connection keeps transactions apart while SQLite serialises the writes.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()
        open_database(path).conn.close()  # migrate once, up front

    def get(self) -> sqlite_utils.Database:
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                db.conn.close()
            self._all.clear()
        self._local = threading.local()
