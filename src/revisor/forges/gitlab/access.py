"""What `revisor doctor` checks on GitLab: the token's validity and scope, then the project.

Asked through the adapter itself (`GitLabForge.probe`: the same egress-built client and
error handling as a review), one try per request.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from revisor.forges.base import Access
from revisor.forges.gitlab.api import GitLabForge
from revisor.forges.http_date import parse_http_date

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
MAX_DEPTH = 21  # 20 nested groups, then the project


def project_path_problem(project: str) -> str | None:
    """Why `project` cannot be a GitLab project path (`group[/subgroup...]/project`), or None.
    Segments as GitLab allows them: letters, digits, '_', '-', '.', not starting with '-' or
    '.', not ending in '.', '.git' or '.atom'."""
    parts = project.split("/")
    if len(parts) < 2:
        return (
            f"GitLab project path {project!r} has no group: write it as group/project "
            "(as in the project's URL)"
        )
    if len(parts) > MAX_DEPTH:
        return f"GitLab project path {project!r}: at most 20 nested groups"
    for part in parts:
        if not _SEGMENT.fullmatch(part) or part.endswith((".", ".git", ".atom")):
            return (
                f"GitLab project path {project!r}: {part!r} is not a valid group or project "
                "name (letters, digits, '_', '-', '.'; not ending in '.git')"
            )
    return None


_REGISTER_AGAIN = "(`revisor repo remove ID`, `revisor repo add ...`)"


def check_access(forge: GitLabForge, project: str) -> Access:
    """Token validity and scope (`api` is needed to post), then the project's visibility."""
    status, data = forge.probe("/personal_access_tokens/self")
    when = parse_http_date(forge.server_date)
    if status == 401:
        return Access(
            False,
            "GitLab refused the token (HTTP 401): expired, revoked or mistyped",
            "create a project access token with the `api` scope (role Developer or more) "
            "and register it again: `revisor repo remove ID` then `revisor repo add ...`",
            when,
        )
    scope_note = ""
    if status == 200:
        scopes = (data.get("scopes") if isinstance(data, dict) else None) or []
        if "api" not in scopes:
            return Access(
                False,
                f"the token's scopes are {', '.join(scopes) or 'none'}; posting needs `api`",
                f"create a token with the `api` scope and register it again {_REGISTER_AGAIN}",
                when,
            )
        scope_note = ", token scope api"
    status, data = forge.probe(f"/projects/{quote(project, safe='')}")
    when = when or parse_http_date(forge.server_date)
    if status != 200:
        return Access(
            False,
            f"project {project}: HTTP {status}",
            f"give the token's user at least the Developer role in {project}, "
            "or fix the project path (`revisor repo list`)",
            when,
        )
    return Access(True, f"{project} reachable{scope_note}", "", when)
