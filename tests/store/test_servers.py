"""The allowed Git servers table, and the upgrade that fills it from registered repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from revisor.gitservers import BadServerURL
from revisor.store import servers
from revisor.store.db import MIGRATIONS, connect, migrate, now


def _old_database(path: Path, server_urls: list[str]) -> None:
    """A database as migration 005 left it, with repositories registered on `server_urls`."""
    db = connect(path)
    names = [name for name, _ in MIGRATIONS]
    migrate(db, MIGRATIONS[: names.index("006_git_servers")])
    for i, url in enumerate(server_urls):
        db.execute(
            "INSERT INTO repos (forge, server, project, token_enc, webhook_secret_enc,"
            " created_at) VALUES ('gitlab', ?, ?, x'00', x'00', ?)",
            [url, f"g/p{i}", now()],
        )
    db.conn.commit()
    db.conn.close()


def test_the_upgrade_allows_the_servers_of_registered_repositories(tmp_path: Path) -> None:
    path = tmp_path / "revisor.db"
    _old_database(
        path,
        [
            "https://gitlab.corp.test",
            "https://gitlab.corp.test",  # two repositories, one server
            "https://Gitea.Corp.Test:3000",  # stored before URLs were made canonical
            "https://user:pw@evil.test",  # what today's check refuses is not allowed
        ],
    )
    db = connect(path)
    assert "006_git_servers" in migrate(db)
    assert servers.urls(db) == ["https://gitea.corp.test:3000", "https://gitlab.corp.test"]
    assert {s.added_by for s in servers.list_all(db)} == {"migration:006_git_servers"}
    # the repositories keep working: their servers are allowed under the stored spelling too
    assert servers.require_allowed(db, "https://Gitea.Corp.Test:3000") == (
        "https://gitea.corp.test:3000"
    )
    # ... and removing a server still in use is refused, whatever its stored spelling
    with pytest.raises(servers.ServerInUse):
        servers.remove(db, "https://gitea.corp.test:3000")
    with pytest.raises(servers.ServerNotAllowed):
        servers.require_allowed(db, "https://evil.test")
    db.conn.close()


def test_allow_is_idempotent_and_canonical(tmp_path: Path) -> None:
    db = connect(tmp_path / "revisor.db")
    migrate(db)
    first, new = servers.allow(db, "https://GitLab.test:443/", added_by="cli:root")
    assert (first.url, new) == ("https://gitlab.test", True)
    again, new = servers.allow(db, "https://gitlab.test", added_by="cli:other")
    assert (again, new) == (first, False)
    with pytest.raises(BadServerURL):
        servers.allow(db, "https://gitlab.test/?x=1", added_by="cli:root")
    assert servers.remove(db, "https://gitlab.test") == first
    assert servers.urls(db) == []
    db.conn.close()
