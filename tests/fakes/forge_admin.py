"""The strict fakes, grown by what onboarding asks of a Git server: the token, project lists
and webhooks (create, test delivery, delete), written from the public API documentation.

GitLab (REST v4, "Project webhooks API", "Projects API"):
- `GET /personal_access_tokens/self`: the token's scopes.
- `GET /projects?membership=true&min_access_level=N`, `GET /groups/:id/projects?include_subgroups=
  true`: paginated (`page`, `per_page` at most 100, `X-Next-Page`); an unknown group is 404.
- `POST /projects/:id/hooks`: Maintainer role (40) or 403; `url` missing 400 "url is missing",
  not http(s) 422 "Invalid url given"; event flags must be booleans (400); 201 with the hook.
- `POST /projects/:id/hooks/:hook_id/test/:trigger`: a trigger outside the documented list is
  400; `merge_requests_events` on a project without merge requests is 422 ("Ensure the project
  has merge requests."); the delivery is sent at once, and a hook that does not answer 2xx
  makes it 422 ("[Hook execution failed]").
- `DELETE /projects/:id/hooks/:hook_id`: 204, or 404 for an unknown hook.
- "Group webhooks API": the same under `/groups/:id/hooks` (a group hook fires for every
  project of the group and its subgroups); the Owner role on the group or 403; an unknown
  group is 404; its test delivery uses the group's most recent merge request.

Gitea/Forgejo (API v1 swagger, `CreateHookOption`):
- `GET /user/repos`, `GET /orgs/{org}/repos`: paginated (`page`, `limit` capped at 50,
  `X-Total-Count`); an unknown organisation is 404.
- `POST /repos/{owner}/{repo}/hooks`: the token needs `write:repository` and the user admin
  rights on the repository (else 403); `type` and `config` are required (422), `type` one of
  the known kinds, `config.url` and `config.content_type` (`json` or `form`) required (422),
  events from the documented list (422 otherwise); 201 with the hook.
- `POST /repos/{owner}/{repo}/hooks/{id}/tests`: 204; the test delivery (a push event signed
  with the hook's secret) is sent, its outcome is not reported back (as in Gitea).
- `DELETE /repos/{owner}/{repo}/hooks/{id}`: 204, 404 unknown.
- `POST /orgs/{org}/hooks`, `DELETE /orgs/{org}/hooks/{id}`: an owner of the organisation with
  `write:organization` (else 403), the same validation; there is no test endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import unquote

from .fake_gitea import FakeGitea
from .fake_gitlab import FakeGitLab
from .server import Request, Response, json_response, paginate

GITLAB_TRIGGERS = {
    "push_events", "tag_push_events", "issues_events", "confidential_issues_events",
    "note_events", "merge_requests_events", "job_events", "pipeline_events",
    "wiki_page_events", "releases_events", "emoji_events", "resource_access_token_events",
}  # fmt: skip
GITEA_TYPES = {
    "gitea", "gogs", "forgejo", "slack", "discord", "dingtalk", "telegram", "msteams",
    "feishu", "matrix", "wechatwork", "packagist",
}  # fmt: skip
GITEA_EVENTS = {
    "create", "delete", "fork", "push", "issues", "issue_assign", "issue_label",
    "issue_milestone", "issue_comment", "pull_request", "pull_request_assign",
    "pull_request_label", "pull_request_milestone", "pull_request_comment",
    "pull_request_review_approved", "pull_request_review_rejected",
    "pull_request_review_comment", "pull_request_sync", "pull_request_review_request",
    "wiki", "repository", "release", "package", "status", "workflow_job",
}  # fmt: skip


def deliver(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    """POST a delivery as the Git server would; the HTTP status, 0 when nothing answered."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(  # noqa: S310 (a loopback URL a test registered)
        url, data=data, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


class FakeGitLabAdmin(FakeGitLab):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.access: dict[str, int] = {}  # project -> the token user's access level
        self.hooks: dict[int, dict[str, Any]] = {}
        self.deliveries: list[tuple[int, int]] = []  # (hook id, HTTP status of our answer)
        self._hook_ids = itertools.count(1)
        p = r"/api/v4/projects/(?P<project>[^/]+)"
        self.route("GET", r"/api/v4/personal_access_tokens/self", self._get_token)
        self.route("GET", r"/api/v4/projects", self._list_projects)
        self.route("GET", r"/api/v4/groups/(?P<group>[^/]+)/projects", self._group_projects)
        self.route("GET", p, self._get_project)
        self.route("POST", p + "/hooks", self._post_hook)
        self.route("POST", p + r"/hooks/(?P<hook>\d+)/test/(?P<trigger>[a-z_]+)", self._test_hook)
        self.route("DELETE", p + r"/hooks/(?P<hook>\d+)", self._delete_hook)
        g = r"/api/v4/groups/(?P<group>[^/]+)/hooks"
        self.route("POST", g, self._post_group_hook)
        self.route("POST", g + r"/(?P<hook>\d+)/test/(?P<trigger>[a-z_]+)", self._test_group_hook)
        self.route("DELETE", g + r"/(?P<hook>\d+)", self._delete_group_hook)
        self.not_owner: set[str] = set()  # groups where the token user is not an Owner

    def add_project(self, project: str, access_level: int = 40) -> None:
        with self._state_lock:
            self.projects.setdefault(project, len(self.projects) + 1)
            self.access[project] = access_level

    def _info(self, project: str) -> dict[str, Any]:
        return {"id": self.projects[project], "path_with_namespace": project}

    def _get_token(self, request: Request) -> Response:
        return json_response({"id": 1, "scopes": sorted(self.scopes), "active": True})

    def _visible(self, min_level: int) -> list[str]:
        return sorted(p for p in self.projects if self.access.get(p, 30) >= min_level)

    def _list_projects(self, request: Request) -> Response:
        level = int(request.query.get("min_access_level", "0") or 0)
        items = [self._info(p) for p in self._visible(level)]
        chunk, headers = paginate(
            items, request, default=20, maximum=100, size_param="per_page", base_url=self.url
        )
        return json_response(chunk, headers=headers)

    def _group_projects(self, request: Request) -> Response:
        group = unquote(request.params["group"])
        deep = request.query.get("include_subgroups") == "true"
        level = int(request.query.get("min_access_level", "0") or 0)

        def inside(p: str) -> bool:
            parent = p.rsplit("/", 1)[0]
            return parent == group or (deep and parent.startswith(group + "/"))

        if not any(p.startswith(group + "/") for p in self.projects):
            return json_response({"message": "404 Group Not Found"}, 404)
        items = [self._info(p) for p in self._visible(level) if inside(p)]
        chunk, headers = paginate(
            items, request, default=20, maximum=100, size_param="per_page", base_url=self.url
        )
        return json_response(chunk, headers=headers)

    def _get_project(self, request: Request) -> Response:
        project = self._project(request)
        if project is None:
            return json_response({"message": "404 Project Not Found"}, 404)
        return json_response(self._info(project))

    def _maintained(self, request: Request) -> tuple[str | None, Response | None]:
        project = self._project(request)
        if project is None:
            return None, json_response({"message": "404 Project Not Found"}, 404)
        if self.access.get(project, 30) < 40:
            return None, json_response({"message": "403 Forbidden"}, 403)
        return project, None

    def _post_hook(self, request: Request) -> Response:
        project, refused = self._maintained(request)
        if refused is not None or project is None:
            return refused or json_response({}, 500)
        body = request.json() or {}
        url = body.get("url")
        if not url:
            return json_response({"error": "url is missing"}, 400)
        if not str(url).startswith(("http://", "https://")):
            return json_response({"error": "Invalid url given"}, 422)
        for key, value in body.items():
            if key.endswith("_events") and not isinstance(value, bool):
                return json_response({"error": f"{key} is invalid"}, 400)
        hook_id = next(self._hook_ids)
        hook = {
            "id": hook_id,
            "url": url,
            "project_id": self.projects[project],
            "push_events": body.get("push_events", True),  # GitLab's default
            "merge_requests_events": body.get("merge_requests_events", False),
            "note_events": body.get("note_events", False),
            "enable_ssl_verification": body.get("enable_ssl_verification", True),
        }
        with self._state_lock:
            self.hooks[hook_id] = {**hook, "project": project, "token": body.get("token", "")}
        return json_response(hook, 201)

    def _hook(self, request: Request, project: str) -> dict[str, Any] | None:
        hook = self.hooks.get(int(request.params["hook"]))
        return hook if hook is not None and hook["project"] == project else None

    def _test_hook(self, request: Request) -> Response:
        project, refused = self._maintained(request)
        if refused is not None or project is None:
            return refused or json_response({}, 500)
        if request.params["trigger"] not in GITLAB_TRIGGERS:
            return json_response({"error": "trigger does not have a valid value"}, 400)
        hook = self._hook(request, project)
        if hook is None:
            return json_response({"message": "404 Not found"}, 404)
        mrs = sorted(iid for p, iid in self.mrs if p == project)
        if request.params["trigger"] == "merge_requests_events" and not mrs:
            return json_response({"message": "Ensure the project has merge requests."}, 422)
        payload = {
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "project": {"path_with_namespace": project},
            "object_attributes": {
                "iid": mrs[-1] if mrs else 1,
                "state": "opened",
                "last_commit": {"id": "0" * 40},
            },
        }
        headers = {
            "X-Gitlab-Event": "Merge Request Hook",
            "X-Gitlab-Token": hook["token"],
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        }
        status = deliver(hook["url"], payload, headers)
        self.deliveries.append((hook["id"], status))
        if not 200 <= status < 300:
            return json_response({"message": f"[Hook execution failed: HTTP {status}]"}, 422)
        return json_response({"message": "201 Created"}, 201)

    def _owned(self, request: Request) -> tuple[str | None, Response | None]:
        group = unquote(request.params["group"])
        if not any(p.startswith(group + "/") for p in self.projects):
            return None, json_response({"message": "404 Group Not Found"}, 404)
        if group in self.not_owner:
            return None, json_response({"message": "403 Forbidden"}, 403)
        return group, None

    def _post_group_hook(self, request: Request) -> Response:
        group, refused = self._owned(request)
        if refused is not None or group is None:
            return refused or json_response({}, 500)
        body = request.json() or {}
        if not body.get("url"):
            return json_response({"error": "url is missing"}, 400)
        if not str(body["url"]).startswith(("http://", "https://")):
            return json_response({"error": "Invalid url given"}, 422)
        hook_id = next(self._hook_ids)
        with self._state_lock:
            self.hooks[hook_id] = {
                "id": hook_id,
                "url": body["url"],
                "group": group,
                "project": None,
                "token": body.get("token", ""),
                "merge_requests_events": body.get("merge_requests_events", False),
                "note_events": body.get("note_events", False),
                "push_events": body.get("push_events", True),
            }
        return json_response({"id": hook_id, "url": body["url"]}, 201)

    def _group_hook(self, request: Request, group: str) -> dict[str, Any] | None:
        hook = self.hooks.get(int(request.params["hook"]))
        return hook if hook is not None and hook.get("group") == group else None

    def _test_group_hook(self, request: Request) -> Response:
        group, refused = self._owned(request)
        if refused is not None or group is None:
            return refused or json_response({}, 500)
        if request.params["trigger"] not in GITLAB_TRIGGERS:
            return json_response({"error": "trigger does not have a valid value"}, 400)
        hook = self._group_hook(request, group)
        if hook is None:
            return json_response({"message": "404 Not found"}, 404)
        with_mrs = sorted(p for p, _ in self.mrs if p.startswith(group + "/"))
        if not with_mrs:
            return json_response({"message": "Ensure the group has merge requests."}, 422)
        return self._deliver_mr(hook, with_mrs[-1])

    def _deliver_mr(self, hook: dict[str, Any], project: str) -> Response:
        iid = max(i for p, i in self.mrs if p == project)
        payload = {
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "project": {"path_with_namespace": project},
            "object_attributes": {"iid": iid, "state": "opened", "last_commit": {"id": "0" * 40}},
        }
        headers = {
            "X-Gitlab-Event": "Merge Request Hook",
            "X-Gitlab-Token": hook["token"],
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        }
        status = deliver(hook["url"], payload, headers)
        self.deliveries.append((hook["id"], status))
        if not 200 <= status < 300:
            return json_response({"message": f"[Hook execution failed: HTTP {status}]"}, 422)
        return json_response({"message": "201 Created"}, 201)

    def _delete_group_hook(self, request: Request) -> Response:
        group, refused = self._owned(request)
        if refused is not None or group is None:
            return refused or json_response({}, 500)
        hook = self._group_hook(request, group)
        if hook is None:
            return json_response({"message": "404 Not found"}, 404)
        with self._state_lock:
            del self.hooks[hook["id"]]
        return Response(204)

    def _delete_hook(self, request: Request) -> Response:
        project, refused = self._maintained(request)
        if refused is not None or project is None:
            return refused or json_response({}, 500)
        hook = self._hook(request, project)
        if hook is None:
            return json_response({"message": "404 Not found"}, 404)
        with self._state_lock:
            del self.hooks[hook["id"]]
        return Response(204)


class FakeGiteaAdmin(FakeGitea):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repos: dict[str, bool] = {}  # full name -> the token user is an admin there
        self.hooks: dict[int, dict[str, Any]] = {}
        self.deliveries: list[tuple[int, int]] = []
        self._hook_ids = itertools.count(1)
        r = r"/api/v1/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        self.route("GET", r"/api/v1/user/repos", self._user_repos)
        self.route("GET", r"/api/v1/orgs/(?P<org>[^/]+)/repos", self._org_repos)
        self.route("GET", r, self._get_repo)
        self.route("POST", r + "/hooks", self._post_hook)
        self.route("POST", r + r"/hooks/(?P<hook>\d+)/tests", self._test_hook)
        self.route("DELETE", r + r"/hooks/(?P<hook>\d+)", self._delete_hook)
        o = r"/api/v1/orgs/(?P<org>[^/]+)/hooks"
        self.route("POST", o, self._post_org_hook)
        self.route("DELETE", o + r"/(?P<hook>\d+)", self._delete_org_hook)
        self.owned_orgs: set[str] | None = None  # None: the token user owns every organisation

    def add_repo(self, full_name: str, admin: bool = True) -> None:
        self.repos[full_name] = admin

    def _info(self, name: str) -> dict[str, Any]:
        admin = self.repos[name]
        return {
            "full_name": name,
            "permissions": {"admin": admin, "push": True, "pull": True},
        }

    def _page(self, names: list[str], request: Request) -> Response:
        chunk, headers = paginate(
            [self._info(n) for n in sorted(names)],
            request,
            default=30,
            maximum=50,
            size_param="limit",
            base_url=self.url,
        )
        return json_response(chunk, headers=headers)

    def _user_repos(self, request: Request) -> Response:
        return self._page(list(self.repos), request)

    def _org_repos(self, request: Request) -> Response:
        org = unquote(request.params["org"])
        names = [n for n in self.repos if n.split("/")[0] == org]
        if not names:
            return self.not_found(request)
        return self._page(names, request)

    def _name(self, request: Request) -> str:
        return f"{unquote(request.params['owner'])}/{unquote(request.params['repo'])}"

    def _get_repo(self, request: Request) -> Response:
        name = self._name(request)
        if name not in self.repos:
            return self.not_found(request)
        return json_response(self._info(name))

    def _admin_of(self, request: Request) -> tuple[str | None, Response | None]:
        name = self._name(request)
        if name not in self.repos:
            return None, self.not_found(request)
        if not self.repos[name]:
            return None, json_response({"message": "Must be an admin"}, 403)
        return name, None

    def _org_owner(self, request: Request) -> tuple[str | None, Response | None]:
        org = unquote(request.params["org"])
        if not any(n.split("/")[0] == org for n in self.repos):
            return None, self.not_found(request)
        if "write:organization" not in self.scopes:
            message = "token does not have at least one of required scope(s): [write:organization]"
            return None, json_response({"message": message}, 403)
        if self.owned_orgs is not None and org not in self.owned_orgs:
            return None, json_response({"message": "Must be an organization owner"}, 403)
        return org, None

    def _post_org_hook(self, request: Request) -> Response:
        org, refused = self._org_owner(request)
        if refused is not None or org is None:
            return refused or json_response({}, 500)
        return self._create(request, {"org": org})

    def _delete_org_hook(self, request: Request) -> Response:
        org, refused = self._org_owner(request)
        if refused is not None or org is None:
            return refused or json_response({}, 500)
        hook = self.hooks.get(int(request.params["hook"]))
        if hook is None or hook.get("org") != org:
            return self.not_found(request)
        with self._state_lock:
            del self.hooks[hook["id"]]
        return Response(204)

    def _post_hook(self, request: Request) -> Response:
        name, refused = self._admin_of(request)
        if refused is not None or name is None:
            return refused or json_response({}, 500)
        return self._create(request, {"repo": name})

    def _create(self, request: Request, owner: dict[str, Any]) -> Response:
        body = request.json() or {}
        config = body.get("config")
        if not body.get("type") or not isinstance(config, dict):
            return json_response({"message": "[Type Config]: Required"}, 422)
        if body["type"] not in GITEA_TYPES:
            return json_response({"message": "Invalid hook type"}, 422)
        for option in ("url", "content_type"):
            if not config.get(option):
                return json_response({"message": f"Missing config option: {option}"}, 422)
        if config["content_type"] not in ("json", "form"):
            return json_response({"message": "Invalid content type"}, 422)
        events = body.get("events") or ["push"]
        if any(e not in GITEA_EVENTS for e in events):
            return json_response({"message": f"unknown event in {events}"}, 422)
        hook_id = next(self._hook_ids)
        hook = {
            "id": hook_id,
            "type": body["type"],
            "config": {"url": config["url"], "content_type": config["content_type"]},
            "events": events,
            "active": bool(body.get("active", False)),
        }
        with self._state_lock:
            self.hooks[hook_id] = {
                **hook, **owner, "secret": config.get("secret", ""),
            }  # fmt: skip
        return json_response(hook, 201)

    def _hook(self, request: Request, name: str) -> dict[str, Any] | None:
        hook = self.hooks.get(int(request.params["hook"]))
        return hook if hook is not None and hook.get("repo") == name else None

    def _test_hook(self, request: Request) -> Response:
        name, refused = self._admin_of(request)
        if refused is not None or name is None:
            return refused or json_response({}, 500)
        hook = self._hook(request, name)
        if hook is None:
            return self.not_found(request)
        payload = {"ref": "refs/heads/main", "repository": {"full_name": name}, "commits": []}
        body = json.dumps(payload).encode()
        signature = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-Gitea-Event": "push",
            "X-Gitea-Delivery": str(uuid.uuid4()),
            "X-Gitea-Signature": signature,
        }
        self.deliveries.append((hook["id"], deliver(hook["config"]["url"], payload, headers)))
        return Response(204)

    def _delete_hook(self, request: Request) -> Response:
        name, refused = self._admin_of(request)
        if refused is not None or name is None:
            return refused or json_response({}, 500)
        hook = self._hook(request, name)
        if hook is None:
            return self.not_found(request)
        with self._state_lock:
            del self.hooks[hook["id"]]
        return Response(204)
