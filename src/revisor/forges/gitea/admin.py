"""Onboarding on Gitea and Forgejo: the token, the repositories it administers, repository
hooks.

Endpoints (Gitea API v1): `GET /user`, `GET /user/repos`, `GET /orgs/{org}/repos`,
`POST /repos/{owner}/{repo}/hooks` (type `gitea`, JSON, the events `pull_request` and
`issue_comment`), `POST /repos/{owner}/{repo}/hooks/{id}/tests`,
`DELETE /repos/{owner}/{repo}/hooks/{id}`. Creating a hook needs admin rights on the
repository (`permissions.admin`) and a token with `write:repository`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from revisor.egress import Egress
from revisor.errors import ForgeError
from revisor.forges.admin import PER_PAGE, AdminHttp, ServerTarget
from revisor.forges.base import ForgeRefused

HOOK_EVENTS = ["pull_request", "issue_comment"]


def _repo(project: str) -> str:
    owner, _, name = project.partition("/")
    if not owner or not name or "/" in name:
        raise ForgeError(f"Gitea repository must be 'owner/repo', got {project!r}")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


class GiteaAdmin:
    def __init__(self, target: ServerTarget, egress: Egress) -> None:
        self.http = AdminHttp(target, egress, "/api/v1", {"Authorization": f"token {target.token}"})

    def close(self) -> None:
        self.http.close()

    def whoami(self) -> str:
        user = self.http.json("GET", "/user", what="identify the token's user")
        return str(user.get("login", "?"))

    def list_projects(self, group: str | None = None) -> list[str]:
        if group:
            path, what = f"/orgs/{quote(group, safe='')}/repos", f"list the repositories of {group}"
        else:
            path, what = "/user/repos", "list the repositories the token can see"
        found = self.http.get_all(
            path, what=what, params={}, page_params=lambda n: {"page": n, "limit": PER_PAGE}
        )
        return sorted(
            str(r["full_name"])
            for r in found
            if isinstance(r, dict) and ((r.get("permissions") or {}).get("admin"))
        )

    def create_hook(self, project: str, url: str, secret: str) -> str:
        body: dict[str, Any] = {
            "type": "gitea",
            "config": {"url": url, "content_type": "json", "secret": secret},
            "events": HOOK_EVENTS,
            "active": True,
        }
        hook = self.http.json(
            "POST", f"{_repo(project)}/hooks", what=f"create a webhook on {project}", json=body
        )
        return str(hook["id"])

    def test_hook(self, project: str, hook_id: str) -> None:
        self.http.request(
            "POST",
            f"{_repo(project)}/hooks/{quote(hook_id, safe='')}/tests",
            what=f"send a test delivery of the webhook on {project}",
        )

    def delete_hook(self, project: str, hook_id: str) -> None:
        try:
            self.http.request(
                "DELETE",
                f"{_repo(project)}/hooks/{quote(hook_id, safe='')}",
                what=f"delete the webhook on {project}",
            )
        except ForgeRefused as exc:
            if exc.status != 404:
                raise
