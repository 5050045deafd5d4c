"""The role matrix, route by route, for every role and for anonymous visitors.

MATRIX declares who may call each dashboard and API route. `test_matrix_covers_every_route`
fails when a route is added without being declared here, so the matrix cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from litestar import Litestar

from revisor.config import Settings
from revisor.domain import ForgeKind
from revisor.secrets import KeyRing
from revisor.store import jobs, repos, servers
from revisor.store.db import open_database
from revisor.web.auth.guards import ADMIN, AUDIT, OPERATE, READ, READ_CODE
from tests.web.webapp import ROLES, client_as, make_app, settings_for

MATRIX: list[tuple[str, str, frozenset[str]]] = [
    ("GET", "/", READ),
    ("GET", "/jobs", READ),
    ("GET", "/jobs/{job}", READ),
    ("GET", "/jobs/{job}/live", READ),
    ("POST", "/jobs/{job}/retry", OPERATE),
    ("POST", "/jobs/{job}/cancel", OPERATE),
    ("GET", "/jobs/{job}/transcript", READ_CODE),
    ("GET", "/repos", READ),
    ("POST", "/repos/new", OPERATE),
    ("GET", "/repos/{repo}", READ),
    ("POST", "/repos/{repo}/policy", OPERATE),
    ("POST", "/repos/{repo}/rotate-secret", OPERATE),
    ("POST", "/repos/{repo}/transcripts", OPERATE),
    ("POST", "/repos/{repo}/test", OPERATE),
    ("POST", "/repos/{repo}/delete", OPERATE),  # without the typed confirmation: refused
    ("GET", "/servers", READ),
    ("POST", "/servers/new", ADMIN),
    ("POST", "/servers/{server}/remove", ADMIN),
    ("GET", "/servers/{server}", ADMIN),
    ("POST", "/servers/{server}/connect", ADMIN),
    ("POST", "/servers/{server}/test", ADMIN),
    ("POST", "/servers/{server}/enable", ADMIN),
    ("POST", "/servers/{server}/disable-group", ADMIN),
    ("GET", "/feedback", READ),
    ("POST", "/feedback/suppressions/{suppression}/remove", OPERATE),
    ("GET", "/models", READ),
    ("POST", "/models/{endpoint}/test", ADMIN),
    ("GET", "/audit", AUDIT),
    ("POST", "/audit/export", AUDIT),
    ("GET", "/settings", ADMIN),
    ("POST", "/settings/break-glass/disable", ADMIN),
    ("GET", "/settings/tokens", ADMIN),
    ("POST", "/settings/tokens/new", ADMIN),
    ("POST", "/settings/tokens/{token}/revoke", ADMIN),
    ("GET", "/api/me", READ),
    ("GET", "/api/overview", READ),
    ("GET", "/api/jobs", READ),
    ("GET", "/api/jobs/{job}", READ),
    ("POST", "/api/jobs/{job}/retry", OPERATE),
    ("POST", "/api/jobs/{job}/cancel", OPERATE),
    ("GET", "/api/repos", READ),
    ("GET", "/api/models", READ),
    ("GET", "/api/audit", AUDIT),
    ("GET", "/api/docs", READ),
    ("GET", "/api/schema", READ),
    ("GET", "/api/schema/openapi.json", READ),
    ("GET", "/api/schema/{path:str}", READ),
]
# Open by design: webhooks authenticate by signature, probes must work for the supervisor.
# /metrics has its own rule (loopback, or `metrics_public`), tested with its route.
PUBLIC = {
    "/hooks/gitlab",
    "/hooks/gitea",
    "/healthz",
    "/readyz",
    "/metrics",
    "/login",
    "/logout",
    "/static",
}

FORMS = {
    "/repos/new": {
        "forge": "gitlab",
        "server": "https://gitlab.test",
        "project": "g/new",
        "token": "t",
    },
    "/repos/{repo}/policy": {"min_severity": "major", "max_comments": "5"},
    "/repos/{repo}/transcripts": {"transcript_days": "30"},
    "/audit/export": {},
    "/servers/new": {"url": "https://gitea.test"},
}


@dataclass
class World:
    settings: Settings
    app: Litestar
    repo_id: int
    job_id: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    settings = settings_for(tmp_path_factory.mktemp("matrix"))
    db = open_database(settings.db_path)
    servers.allow(db, "https://gitlab.test", added_by="test")
    repo = repos.add(
        db,
        KeyRing.load(settings.keys_dir),
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="g/app",
        token="tok",
        webhook_secret="whsec-1234567890",
    )
    job_id = jobs.create(db, repo_id=repo.id, mr_number=1, head_sha="a" * 40, trigger="open")
    db.conn.close()
    return World(settings, make_app(settings), repo.id, job_id)


def _call(world: World, role: str | None, method: str, path: str) -> int:
    client, csrf = client_as(world.app, world.settings, role)
    url = path.replace("{job}", str(world.job_id)).replace("{repo}", str(world.repo_id))
    url = url.replace("{path:str}", "openapi.yaml")  # any other name under the schema router
    url = url.replace("{endpoint}", "nope")  # unknown: no model is called
    url = url.replace("{server}", "999")  # unknown: nothing is removed
    url = url.replace("{suppression}", "999")  # unknown: nothing is removed
    url = url.replace("{token}", "999")  # unknown: nothing is revoked
    with client:
        if method == "GET":
            return client.get(url, follow_redirects=False).status_code
        return client.post(
            url, data=FORMS.get(path, {}), headers={"x-csrf-token": csrf}, follow_redirects=False
        ).status_code


@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "anonymous"])
@pytest.mark.parametrize(
    ("method", "path", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_route_access(
    world: World, role: str | None, method: str, path: str, allowed: frozenset[str]
) -> None:
    status = _call(world, role, method, path)
    if role is None:
        assert status == 401
    elif role in allowed:
        assert status not in (401, 403), f"{role} refused"
        assert status < 500
    else:
        assert status == 403


def test_anonymous_browser_is_redirected_not_shown_a_page(world: World) -> None:
    client, _ = client_as(world.app, world.settings, None)
    with client:
        for method, path, _ in MATRIX:
            if method == "GET" and not path.startswith("/api/"):
                url = path.replace("{job}", "1").replace("{repo}", "1").replace("{server}", "1")
                r = client.get(url, headers={"accept": "text/html"}, follow_redirects=False)
                assert r.status_code == 303, path
                assert r.headers["location"].startswith("/login?next=")


def test_matrix_covers_every_route(world: World) -> None:
    declared = {
        (
            m,
            p.replace("{job}", "{job_id:int}")
            .replace("{repo}", "{repo_id:int}")
            .replace("{endpoint}", "{endpoint_id:str}")
            .replace("{server}", "{server_id:int}")
            .replace("{suppression}", "{suppression_id:int}")
            .replace("{token}", "{token_id:int}"),
        )
        for m, p, _ in MATRIX
    }
    undeclared = set()
    for route in world.app.routes:
        if any(route.path == p or route.path.startswith(p + "/") for p in PUBLIC):
            continue
        for method in getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}:
            if (method, route.path) not in declared:
                undeclared.add((method, route.path))
    assert not undeclared, f"routes missing from the role matrix: {sorted(undeclared)}"
