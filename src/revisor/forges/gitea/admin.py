"""Onboarding on Gitea and Forgejo: the token, the repositories it administers, repository
hooks.

Endpoints (Gitea API v1): `GET /user`, `GET /user/repos`, `GET /orgs/{org}/repos`,
`POST /repos/{owner}/{repo}/hooks` (type `gitea`, JSON, the events `pull_request` and
`issue_comment`), `POST /repos/{owner}/{repo}/hooks/{id}/tests`,
`DELETE /repos/{owner}/{repo}/hooks/{id}`. Creating a hook needs admin rights on the
repository (`permissions.admin`) and a token with `write:repository`. An organisation hook
(`POST /orgs/{org}/hooks`, `DELETE /orgs/{org}/hooks/{id}`) needs an owner of the organisation
and `write:organization`; Gitea offers no test delivery for it.
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
        hook = self.http.json(
            "POST",
            f"{_repo(project)}/hooks",
            what=f"create a webhook on {project}",
            json=self._hook_body(url, secret),
        )
        return str(hook["id"])

    def test_hook(self, project: str, hook_id: str) -> None:
        self.http.request(
            "POST",
            f"{_repo(project)}/hooks/{quote(hook_id, safe='')}/tests",
            what=f"send a test delivery of the webhook on {project}",
        )

    def delete_hook(self, project: str, hook_id: str) -> None:
        self._delete(f"{_repo(project)}/hooks/{quote(hook_id, safe='')}", project)

    def _delete(self, path: str, name: str) -> None:
        try:
            self.http.request("DELETE", path, what=f"delete the webhook on {name}")
        except ForgeRefused as exc:
            if exc.status != 404:
                raise

    def _hook_body(self, url: str, secret: str) -> dict[str, Any]:
        return {
            "type": "gitea",
            "config": {"url": url, "content_type": "json", "secret": secret},
            "events": HOOK_EVENTS,
            "active": True,
        }

    def create_group_hook(self, group: str, url: str, secret: str) -> str:
        hook = self.http.json(
            "POST",
            f"/orgs/{quote(group, safe='')}/hooks",
            what=f"create an organisation webhook on {group}",
            json=self._hook_body(url, secret),
        )
        return str(hook["id"])

    def test_group_hook(self, group: str, hook_id: str) -> None:
        raise ForgeError(
            "Gitea and Forgejo offer no test delivery for organisation hooks: the first pull "
            "request event will show in the last delivery"
        )

    def delete_group_hook(self, group: str, hook_id: str) -> None:
        self._delete(f"/orgs/{quote(group, safe='')}/hooks/{quote(hook_id, safe='')}", group)
