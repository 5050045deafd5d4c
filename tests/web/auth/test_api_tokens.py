"""API tokens: created by an admin with roles and an expiry, shown once, stored hashed, used as
`Authorization: Bearer` on /api/ only, refused when revoked or expired, every step audited, and
described in the OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path

from litestar.testing import TestClient

from revisor.audit import AuditLog
from revisor.domain import ForgeKind
from revisor.secrets import KeyRing
from revisor.store import api_tokens, attempts, jobs, repos
from revisor.store.db import open_database
from tests.web.webapp import client_as, make_app, settings_for


def _create(client: TestClient, csrf: str, name: str, *roles: str, days: int = 30) -> str:  # type: ignore[type-arg]
    r = client.post(
        "/settings/tokens/new",
        data={"_csrf": csrf, "name": name, "days": str(days), **{f"role_{x}": "1" for x in roles}},
    )
    assert r.status_code == 200, r.text
    match = re.search(r'<pre id="token-value">([^<]+)</pre>', r.text)
    assert match, r.text
    return match.group(1)


def test_tokens_scoped_hashed_expiring_revocable_and_audited(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    db = open_database(settings.db_path)
    repo = repos.add(
        db,
        KeyRing.load(settings.keys_dir),
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="g/app",
        token="tok",
        webhook_secret="whsec-1234567890",
    )
    job_id = jobs.create(db, repo_id=repo.id, mr_number=3, head_sha="a" * 40, trigger="open")
    app = make_app(settings)
    admin, csrf = client_as(app, settings, "admin")
    with admin:
        reader = _create(admin, csrf, "grafana", "viewer")
        operator = _create(admin, csrf, "ci retry bot", "maintainer")
        assert reader.startswith("rvs_")
        listing = admin.get("/settings/tokens").text
        assert reader not in listing  # shown once, never again
        assert "grafana" in listing
        refused = admin.post(
            "/settings/tokens/new",
            data={"_csrf": csrf, "name": "root", "days": "30", "role_admin": "1"},
        )
        assert refused.status_code == 400  # admin is not grantable
        assert 'value="root"' in refused.text  # the form keeps what was typed

    raw = settings.db_path.read_bytes() + Path(f"{settings.db_path}-wal").read_bytes()
    assert reader.encode() not in raw
    assert operator.encode() not in raw

    anon, _ = client_as(app, settings, None)
    with anon:
        as_reader = {"authorization": f"Bearer {reader}"}
        assert anon.get("/api/jobs", headers=as_reader).status_code == 200
        attempts.start(db, job_id, 1)
        attempts.end(db, job_id, 1, "retry", error="model down", next_retry_at=5.0)
        one = anon.get(f"/api/jobs/{job_id}", headers=as_reader).json()
        assert [(a["outcome"], a["error"]) for a in one["attempts"]] == [("retry", "model down")]
        assert one["merge_request"] is None  # the worker has not fetched it yet
        assert anon.get("/api/me", headers=as_reader).json()["roles"] == ["viewer"]
        assert anon.get("/jobs", headers=as_reader).status_code == 401  # API only
        assert anon.post(f"/api/jobs/{job_id}/cancel", headers=as_reader).status_code == 403
        as_operator = {"authorization": f"Bearer {operator}"}
        r = anon.post(f"/api/jobs/{job_id}/cancel", headers=as_operator)  # no CSRF needed
        assert r.status_code == 200, r.text
        assert (
            anon.get("/api/jobs", headers={"authorization": "Bearer rvs_1_" + "x" * 43}).status_code
            == 401
        )

        schema = anon.get("/api/schema/openapi.json", headers=as_reader).json()
        schemes = schema["components"]["securitySchemes"]
        assert schemes["apiToken"]["scheme"] == "bearer"
        assert "Bearer" in schema["info"]["description"]

    token_id = int(reader.split("_")[1])
    with admin:
        r = admin.post(f"/settings/tokens/{token_id}/revoke", data={"_csrf": csrf})
        assert r.status_code == 200
    with anon:
        assert anon.get("/api/jobs", headers=as_reader).status_code == 401
        op_id = int(operator.split("_")[1])
        db.execute("UPDATE api_tokens SET expires_at = 1 WHERE id = ?", [op_id])
        db.conn.commit()
        assert anon.get("/api/jobs", headers=as_operator).status_code == 401
    assert api_tokens.get(db, token_id).revoked_by == "user:ldap:admin-user"  # type: ignore[union-attr]
    db.conn.close()

    log = AuditLog(settings.audit_path)
    records = list(log.records())
    log.close()
    events = [(r["event"], r["actor"], r["details"].get("reason")) for r in records]
    assert ("auth.token.created", "user:ldap:admin-user", None) in events
    assert ("auth.token.revoked", "user:ldap:admin-user", None) in events
    assert ("auth.token.refused", f"token:{token_id}:grafana", "revoked") in events
    assert ("auth.token.refused", f"token:{op_id}:ci retry bot", "expired") in events
    assert ("job.cancelled", f"token:{op_id}:ci retry bot", None) in events
    assert not [r for r in records if reader in str(r) or operator in str(r)]
