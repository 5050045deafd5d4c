"""What `revisor doctor` checks on Gitea/Forgejo: the token, then write access to the repository.

Asked through the adapter itself (`GiteaForge.probe`: the same egress-built client and
error handling as a review), one try per request.
"""

from __future__ import annotations

import re

from revisor.forges.base import Access
from revisor.forges.gitea.api import GiteaForge
from revisor.forges.http_date import parse_http_date

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def project_path_problem(project: str) -> str | None:
    """Why `project` cannot be a Gitea/Forgejo repository (`owner/repo`), or None."""
    parts = project.split("/")
    if len(parts) != 2:
        return (
            f"Gitea repository {project!r}: write it as owner/repository (one '/', as in the "
            "repository's URL)"
        )
    for part in parts:
        if not _NAME.fullmatch(part) or part in (".", "..") or part.endswith(".git"):
            return (
                f"Gitea repository {project!r}: {part!r} is not a valid owner or repository "
                "name (letters, digits, '_', '-', '.')"
            )
    return None


def check_access(forge: GiteaForge, project: str) -> Access:
    """Token validity, then the repository and the token user's permission on it."""
    status, data = forge.probe("/user")
    when = parse_http_date(forge.server_date)
    if status in (401, 403):
        return Access(
            False,
            f"Gitea refused the token (HTTP {status})",
            "create an access token with the scopes write:repository and write:issue "
            "and register it again (`revisor repo remove ID`, `revisor repo add ...`)",
            when,
        )
    status, data = forge.probe(f"/repos/{project}")
    when = when or parse_http_date(forge.server_date)
    if status != 200:
        return Access(
            False,
            f"repository {project}: HTTP {status}",
            f"give the token's user write access to {project}, or fix the repository "
            "name (`revisor repo list`)",
            when,
        )
    perms = (data.get("permissions") if isinstance(data, dict) else None) or {}
    if not perms.get("push"):
        return Access(
            False,
            f"the token's user can read {project} but not write: reviews and commit "
            "statuses would be refused",
            f"add the token's user to {project} as a collaborator with write access",
            when,
        )
    return Access(True, f"{project} reachable, write access", "", when)
