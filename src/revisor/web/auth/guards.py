"""Role guards. Roles: admin, maintainer, auditor, viewer; a user may hold several.

What each may do (the tests walk this matrix route by route):

- READ (any role): overview, jobs, repositories, Git servers, models;
- OPERATE (maintainer, admin): retry/cancel jobs, add repositories (on allowed Git servers
  only), edit policy, rotate secrets;
- AUDIT (auditor, admin): audit search and export;
- READ_CODE (admin, maintainer, auditor): review transcripts, which hold the code the model
  was sent (every read audited); viewers see a job's findings but never its code;
- ADMIN (admin): settings, disabling the break-glass admin, allowing and removing Git servers
  (which is what widens the egress allowlist).
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from revisor.web.auth.sessions import Principal

READ = frozenset({"admin", "maintainer", "auditor", "viewer"})
OPERATE = frozenset({"admin", "maintainer"})
AUDIT = frozenset({"admin", "auditor"})
READ_CODE = frozenset({"admin", "maintainer", "auditor"})
ADMIN = frozenset({"admin"})


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    p = connection.scope.get("state", {}).get("principal")
    return p if isinstance(p, Principal) else None


def require(roles: frozenset[str]) -> Guard:
    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        p = principal_of(connection)
        if p is None:
            raise NotAuthorizedException("sign in first")
        if not p.has(*roles):
            raise PermissionDeniedException("your role does not allow this")

    guard.__name__ = f"require_{'_'.join(sorted(roles))}"
    return guard


def signed_in(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The principal of a request that passed a role guard (401 if, somehow, there is none)."""
    p = principal_of(connection)
    if p is None:
        raise NotAuthorizedException("sign in first")
    return p
