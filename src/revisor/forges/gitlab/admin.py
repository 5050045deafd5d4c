"""Onboarding on GitLab: the token (scope `api`), the projects it maintains, project hooks.

Endpoints (GitLab REST v4): `GET /personal_access_tokens/self`, `GET /user`,
`GET /projects?membership=true&min_access_level=40` (Maintainer: managing hooks needs it),
`GET /groups/:id/projects?include_subgroups=true`, `POST /projects/:id/hooks`,
`POST /projects/:id/hooks/:hook_id/test/merge_requests_events`,
`DELETE /projects/:id/hooks/:hook_id`; the same under `/groups/:id/hooks` for a group hook
(the Owner role on the group).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from revisor.egress import Egress
from revisor.errors import ForgeError
from revisor.forges.admin import PER_PAGE, AdminHttp, ServerTarget
from revisor.forges.base import ForgeRefused

MAINTAINER = 40
HOOK_EVENTS = {"merge_requests_events": True, "note_events": True, "push_events": False}
TEST_TRIGGER = "merge_requests_events"


def _pid(project: str) -> str:
    return quote(project, safe="")


class GitLabAdmin:
    def __init__(self, target: ServerTarget, egress: Egress) -> None:
        self.http = AdminHttp(target, egress, "/api/v4", {"PRIVATE-TOKEN": target.token})

    def close(self) -> None:
        self.http.close()

    def whoami(self) -> str:
        token = self.http.json("GET", "/personal_access_tokens/self", what="read the token")
        scopes = (token.get("scopes") if isinstance(token, dict) else None) or []
        if "api" not in scopes:
            raise ForgeError(
                f"the token's scopes are {', '.join(scopes) or 'none'}; creating webhooks and "
                "posting reviews need `api`"
            )
        user = self.http.json("GET", "/user", what="identify the token's user")
        return f"{user.get('username', '?')} (token scope api)"

    def list_projects(self, group: str | None = None) -> list[str]:
        params: dict[str, Any] = {"simple": "true", "archived": "false"}
        if group:
            path, what = f"/groups/{_pid(group)}/projects", f"list the projects of {group}"
            params |= {"include_subgroups": "true", "min_access_level": MAINTAINER}
        else:
            path, what = "/projects", "list the projects the token maintains"
            params |= {"membership": "true", "min_access_level": MAINTAINER}
        found = self.http.get_all(
            path, what=what, params=params, page_params=lambda n: {"page": n, "per_page": PER_PAGE}
        )
        return sorted(str(p["path_with_namespace"]) for p in found if isinstance(p, dict))

    def create_hook(self, project: str, url: str, secret: str) -> str:
        hook = self.http.json(
            "POST",
            f"/projects/{_pid(project)}/hooks",
            what=f"create a webhook on {project}",
            json={"url": url, "token": secret, "enable_ssl_verification": True, **HOOK_EVENTS},
        )
        return str(hook["id"])

    def test_hook(self, project: str, hook_id: str) -> None:
        self.http.request(
            "POST",
            f"/projects/{_pid(project)}/hooks/{quote(hook_id, safe='')}/test/{TEST_TRIGGER}",
            what=f"send a test delivery of the webhook on {project}",
        )

    def delete_hook(self, project: str, hook_id: str) -> None:
        self._delete(f"/projects/{_pid(project)}/hooks/{quote(hook_id, safe='')}", project)

    def _delete(self, path: str, name: str) -> None:
        try:
            self.http.request("DELETE", path, what=f"delete the webhook on {name}")
        except ForgeRefused as exc:
            if exc.status != 404:  # already gone: what we wanted
                raise

    def create_group_hook(self, group: str, url: str, secret: str) -> str:
        hook = self.http.json(
            "POST",
            f"/groups/{_pid(group)}/hooks",
            what=f"create a group webhook on {group}",
            json={"url": url, "token": secret, "enable_ssl_verification": True, **HOOK_EVENTS},
        )
        return str(hook["id"])

    def test_group_hook(self, group: str, hook_id: str) -> None:
        self.http.request(
            "POST",
            f"/groups/{_pid(group)}/hooks/{quote(hook_id, safe='')}/test/{TEST_TRIGGER}",
            what=f"send a test delivery of the group webhook on {group}",
        )

    def delete_group_hook(self, group: str, hook_id: str) -> None:
        self._delete(f"/groups/{_pid(group)}/hooks/{quote(hook_id, safe='')}", group)
