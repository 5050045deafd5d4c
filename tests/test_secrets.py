"""Secrets at rest: envelope encryption bound to row and field, rotation, no plaintext on disk."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
import sqlite_utils

from revisor.domain import ForgeKind
from revisor.secrets import (
    SEALED_COLUMNS,
    KeyRing,
    SecretError,
    aad_for,
    delete_old_keys,
    key_ids_in_use,
    rotate,
)
from revisor.store import repos
from revisor.store.db import open_database

sys.path.insert(0, str(Path(__file__).resolve().parent))
from secret_scan import assert_no_plaintext, find_plaintext

TOKEN = "glpat-KnownPlantedToken-0001"
HOOK = "hook-secret-KnownPlanted-0002"
SIGNING = "whsec_KnownPlantedSigning0003"
API_KEY = "sk-model-KnownPlantedKey-0004"


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    d = tmp_path / "keys"
    KeyRing.create_key(d)
    return d


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    database = open_database(tmp_path / "revisor.db")
    yield database
    database.conn.close()


def add_repo(db: sqlite_utils.Database, ring: KeyRing, project: str = "grp/app") -> repos.Repo:
    return repos.add(
        db,
        ring,
        forge=ForgeKind.GITLAB,
        server="https://git.internal",
        project=project,
        token=TOKEN,
        webhook_secret=HOOK,
        signing_secret=SIGNING,
    )


def add_model_endpoints(db: sqlite_utils.Database, ring: KeyRing) -> None:
    """Rows as `revisor model add` writes them (API key bound to `model_endpoints:<id>:api_key`)."""
    sealed = ring.seal(API_KEY, aad_for("model_endpoints", "gpu1", "api_key"))
    with db.conn:
        for endpoint_id, url, key in (
            ("gpu1", "https://gpu1.internal/v1", sealed),
            ("local", "http://127.0.0.1:8081/v1", None),
        ):
            db.execute(
                "INSERT INTO model_endpoints (id, url, model, api_key_enc, created_at)"
                " VALUES (?, ?, 'm', ?, 0)",
                [endpoint_id, url, key],
            )


def test_key_file_is_private(keys_dir: Path) -> None:
    (path,) = keys_dir.glob("kek-*.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_aad_binds_row_and_field(keys_dir: Path) -> None:
    ring = KeyRing.load(keys_dir)
    blob = ring.seal(TOKEN, aad_for("repos", "gitlab:https://a:x", "token"))
    assert ring.open_str(blob, aad_for("repos", "gitlab:https://a:x", "token")) == TOKEN
    with pytest.raises(SecretError):
        ring.open(blob, aad_for("repos", "gitlab:https://a:y", "token"))
    with pytest.raises(SecretError):
        ring.open(blob, aad_for("repos", "gitlab:https://a:x", "webhook_secret"))
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(SecretError):
        ring.open(tampered, aad_for("repos", "gitlab:https://a:x", "token"))


def test_rotate_then_delete_old_key_everything_decrypts(
    db: sqlite_utils.Database, keys_dir: Path
) -> None:
    ring = KeyRing.load(keys_dir)
    repo = add_repo(db, ring)
    add_model_endpoints(db, ring)
    old_id = ring.current

    rotation = rotate(db.conn, keys_dir)
    assert rotation.old_key_ids == (old_id,)
    assert rotation.resealed == 4  # 3 repo columns + 1 endpoint key (the NULL one is skipped)
    assert key_ids_in_use(db.conn) == {rotation.new_key_id}
    deleted = delete_old_keys(db.conn, keys_dir, rotation)
    assert [p.name for p in deleted] == [f"kek-{old_id.hex()}.key"]

    fresh = KeyRing.load(keys_dir)
    assert list(fresh.keys) == [rotation.new_key_id]
    secrets = repos.load_secrets(db, fresh, repo)
    assert (secrets.token, secrets.webhook_secret, secrets.signing_secret) == (TOKEN, HOOK, SIGNING)
    (blob,) = [r[0] for r in db.execute("SELECT api_key_enc FROM model_endpoints WHERE id='gpu1'")]
    assert fresh.open_str(blob, aad_for("model_endpoints", "gpu1", "api_key")) == API_KEY
    # New secrets are sealed with the new key.
    repo2 = add_repo(db, fresh, "grp/other")
    assert repos.load_secrets(db, fresh, repo2).token == TOKEN


def test_rotate_twice_picks_the_newest_key(db: sqlite_utils.Database, keys_dir: Path) -> None:
    add_repo(db, KeyRing.load(keys_dir))
    first = rotate(db.conn, keys_dir)
    second = rotate(db.conn, keys_dir)
    assert KeyRing.load(keys_dir).current == second.new_key_id
    assert set(second.old_key_ids) == {first.new_key_id, *first.old_key_ids}
    assert key_ids_in_use(db.conn) == {second.new_key_id}


def test_rotation_aborts_cleanly_when_a_value_does_not_decrypt(
    db: sqlite_utils.Database, keys_dir: Path
) -> None:
    ring = KeyRing.load(keys_dir)
    add_repo(db, ring)
    add_repo(db, ring, "grp/second")
    # A blob copied into another row no longer decrypts there (AAD bound to the row).
    with db.conn:
        db.execute(
            "UPDATE repos SET token_enc = (SELECT token_enc FROM repos WHERE id = 1) WHERE id = 2"
        )
    before = [r[0] for r in db.execute("SELECT webhook_secret_enc FROM repos ORDER BY id")]
    with pytest.raises(SecretError, match="row 2"):
        rotate(db.conn, keys_dir)
    assert [r[0] for r in db.execute("SELECT webhook_secret_enc FROM repos ORDER BY id")] == before
    assert len(list(keys_dir.glob("kek-*.key"))) == 1  # the new key file was removed again


def test_delete_refuses_a_key_still_in_use(db: sqlite_utils.Database, keys_dir: Path) -> None:
    ring = KeyRing.load(keys_dir)
    add_repo(db, ring)
    rotation = rotate(db.conn, keys_dir)
    # A value sealed with the old key after the rotation (e.g. by a process not yet restarted).
    add_repo(db, ring, "grp/late")
    with pytest.raises(SecretError, match="still encrypt"):
        delete_old_keys(db.conn, keys_dir, rotation)
    assert all(p.exists() for p in rotation.old_key_files(keys_dir))


def test_sealed_columns_match_the_schema(db: sqlite_utils.Database) -> None:
    """Every *_enc column in the migrated schema is declared for rotation."""
    declared = {(c.table, c.column) for c in SEALED_COLUMNS}
    for table in db.table_names():
        for col in db[table].columns:
            if col.name.endswith("_enc"):
                assert (table, col.name) in declared, f"{table}.{col.name} is not in SEALED_COLUMNS"


def test_no_plaintext_secret_in_database_files(
    db: sqlite_utils.Database, keys_dir: Path, tmp_path: Path
) -> None:
    ring = KeyRing.load(keys_dir)
    repo = add_repo(db, ring)
    add_model_endpoints(db, ring)
    repos.set_webhook_secret(db, ring, repo, "rotated-hook-secret-0005")
    rotate(db.conn, keys_dir)
    assert Path(f"{tmp_path / 'revisor.db'}-wal").exists()  # the WAL is scanned too
    assert_no_plaintext(
        [tmp_path / "revisor.db"], [TOKEN, HOOK, SIGNING, API_KEY, "rotated-hook-secret-0005"]
    )


def test_scanner_finds_planted_secrets(tmp_path: Path) -> None:
    """The scanner is only worth something if it fails when a secret is there."""
    import base64
    import gzip
    import tarfile

    (tmp_path / "log.txt").write_text(f"token={TOKEN}\n")
    (tmp_path / "b64.json").write_text(
        '{"x":"' + base64.b64encode(b"xy" + HOOK.encode()).decode() + '"}'
    )
    (tmp_path / "hex.txt").write_text(SIGNING.encode().hex())
    inner = tmp_path / "inner.log"
    inner.write_text(f"key {API_KEY}")
    with tarfile.open(tmp_path / "bundle.tar.gz", "w:gz") as tar:
        tar.add(inner, arcname="logs/inner.log")
    inner.unlink()
    (tmp_path / "clean.gz").write_bytes(gzip.compress(b"nothing here"))
    hits = find_plaintext([tmp_path], [TOKEN, HOOK, SIGNING, API_KEY])
    found = {(Path(h.where.split("!")[0]).name, h.secret_index) for h in hits}
    assert found >= {("log.txt", 0), ("b64.json", 1), ("hex.txt", 2), ("bundle.tar.gz", 3)}
    with pytest.raises(AssertionError) as info:
        assert_no_plaintext([tmp_path], [TOKEN])
    assert TOKEN not in str(info.value)
    assert_no_plaintext([tmp_path / "clean.gz"], [TOKEN])


def test_rotation_rolls_back_when_before_commit_fails(
    db: sqlite_utils.Database, keys_dir: Path
) -> None:
    """The CLI audits inside the transaction: no audit record, no rotation."""
    ring = KeyRing.load(keys_dir)
    repo = add_repo(db, ring)

    def audit_fails(rotation: object) -> None:
        raise OSError("audit disk full")

    with pytest.raises(OSError, match="audit disk full"):
        rotate(db.conn, keys_dir, before_commit=audit_fails)
    assert key_ids_in_use(db.conn) == {ring.current}
    assert list(KeyRing.load(keys_dir).keys) == [ring.current]
    assert repos.load_secrets(db, ring, repo).token == TOKEN
