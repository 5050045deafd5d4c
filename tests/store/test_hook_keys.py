"""Every repository has its own hook key: new ones from `repos.add`, existing ones from the
migration that introduced them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from revisor.store import repos
from revisor.store.db import MIGRATIONS, connect, migrate
from revisor.web.hook_urls import is_hook_key
from tests.conftest import DataDir


def test_repositories_added_get_distinct_url_safe_keys(data_dir: DataDir) -> None:
    found = repos.list_all(data_dir.rt.db)
    keys = [r.hook_key for r in found]
    assert len(found) == 3
    assert len(set(keys)) == 3
    assert all(is_hook_key(k) and len(k) >= 22 for k in keys)  # 128 random bits
    assert repos.get(data_dir.rt.db, data_dir.gitea.id).hook_key == data_dir.gitea.hook_key


def test_the_migration_gives_existing_repositories_a_key(tmp_path: Path) -> None:
    names = [name for name, _ in MIGRATIONS]
    before = names.index("005_repo_hook_keys")
    db = connect(tmp_path / "old.db")
    migrate(db, MIGRATIONS[:before])
    for i in range(3):
        db.execute(
            "INSERT INTO repos (forge, server, project, token_enc, webhook_secret_enc,"
            " created_at) VALUES ('gitea', 'https://g.test', ?, x'00', x'00', 0)",
            [f"o/r{i}"],
        )
    db.conn.commit()
    assert migrate(db) == names[before:]
    keys = [r.hook_key for r in repos.list_all(db)]
    assert len(set(keys)) == 3
    assert all(is_hook_key(k) for k in keys)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), db.conn:  # the index
        db.execute("UPDATE repos SET hook_key = ? WHERE project = 'o/r1'", [keys[0]])
    assert next(r for r in repos.list_all(db) if r.project == "o/r2").hook_key == keys[2]
