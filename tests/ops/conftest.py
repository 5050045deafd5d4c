"""Fixtures for the doctor and backup tests: a fresh data dir and a fake Git server API."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from revisor import config  # noqa: E402
from revisor.cli.core import init_data_dir  # noqa: E402
from tests.fakes.server import FakeServer, Request, Response, json_response  # noqa: E402

TOKEN = "glpat-doctor-token-0123456789"


class FakeForgeApi(FakeServer):
    """Just the endpoints `revisor doctor` calls, for GitLab and Gitea, on 127.0.0.1.

    GitLab: `GET /api/v4/personal_access_tokens/self` (scopes), `GET /api/v4/projects/:id`.
    Gitea: `GET /api/v1/user`, `GET /api/v1/repos/:owner/:repo` (permissions).
    """

    def __init__(self) -> None:
        super().__init__()
        self.token = TOKEN
        self.scopes = ["api"]
        self.projects = {"group/app"}
        self.gitea_push = True
        self.route("GET", r"/api/v4/personal_access_tokens/self", self._pat)
        self.route("GET", r"/api/v4/projects/(?P<id>[^/]+)", self._project)
        self.route("GET", r"/api/v1/user", self._user)
        self.route("GET", r"/api/v1/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)", self._repo)

    def authenticate(self, request: Request) -> Response | None:
        given = request.headers.get("private-token") or request.headers.get(
            "authorization", ""
        ).removeprefix("token ")
        if given != self.token:
            return json_response({"message": "401 Unauthorized"}, 401)
        return None

    def _pat(self, request: Request) -> Response:
        return json_response({"id": 1, "scopes": self.scopes, "active": True, "revoked": False})

    def _project(self, request: Request) -> Response:
        from urllib.parse import unquote

        name = unquote(request.path.rsplit("/", 1)[-1])
        if name not in self.projects:
            return json_response({"message": "404 Project Not Found"}, 404)
        return json_response({"id": 7, "path_with_namespace": name})

    def _user(self, request: Request) -> Response:
        return json_response({"id": 3, "login": "revisor-bot"})

    def _repo(self, request: Request) -> Response:
        name = request.path.split("/api/v1/repos/", 1)[1]
        if name not in self.projects:
            return json_response({"message": "not found"}, 404)
        perms: dict[str, Any] = {"admin": False, "push": self.gitea_push, "pull": True}
        return json_response({"full_name": name, "permissions": perms})


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[config.Settings]:
    """A data dir made as `revisor init` makes it (the CLI runs with umask 077)."""
    s = config.load(tmp_path / "data", environ={})
    old = os.umask(0o077)
    try:
        init_data_dir(s)
    finally:
        os.umask(old)
    return s


@pytest.fixture
def forge_api() -> Iterator[FakeForgeApi]:
    fake = FakeForgeApi()
    fake.start()
    yield fake
    fake.stop()
