"""The onboarding seam: what Revisor asks of a Git server with an admin's (or a group's) token,
beyond reviewing: who the token is, which projects it can manage, and its webhooks.

`forges.open_admin(target, egress)` picks the forge (`gitlab/admin.py`, `gitea/admin.py`); the
plumbing both share is here: one egress-built httpx client that talks to `target.server` only,
answers turned into `revisor.errors` types with the token scrubbed, and bounded pagination.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from revisor.domain import ForgeKind
from revisor.egress import Egress
from revisor.errors import ForgeError, ForgeUnavailable
from revisor.forges.base import error_for_status, reason_from_body, scrub
from revisor.text.inert import inert_fields

MAX_PAGES = 50
PER_PAGE = 100


@dataclass(frozen=True)
class ServerTarget:
    """A Git server as onboarding sees it: its kind, URL, CA bundle and the admin token."""

    kind: ForgeKind
    server: str
    token: str = field(repr=False)
    ca_file: str | None = None


class ForgeAdmin(Protocol):
    def whoami(self) -> str:
        """Who the token is, and that it may manage webhooks (else `ForgeError` saying why)."""
        ...

    def list_projects(self, group: str | None = None) -> list[str]:
        """Paths of the projects the token can manage hooks on (all pages); in `group` and its
        subgroups when given."""
        ...

    def create_hook(self, project: str, url: str, secret: str) -> str:
        """A webhook on `project` for merge-request and comment events, posting to `url` with
        `secret`; returns its id."""
        ...

    def test_hook(self, project: str, hook_id: str) -> None:
        """Ask the server to send the hook a test delivery; `ForgeError` if it refuses."""
        ...

    def delete_hook(self, project: str, hook_id: str) -> None:
        """Delete the hook; one already gone is not an error."""
        ...

    def create_group_hook(self, group: str, url: str, secret: str) -> str:
        """One webhook for every project of `group` (GitLab group hook, Gitea organisation
        hook), same events; returns its id."""
        ...

    def test_group_hook(self, group: str, hook_id: str) -> None:
        """A test delivery of the group's hook; `ForgeError` when the server refuses or offers
        none (Gitea has no test for organisation hooks)."""
        ...

    def delete_group_hook(self, group: str, hook_id: str) -> None: ...

    def close(self) -> None: ...


class AdminHttp:
    """One httpx client to `base_url` (an API root on `target.server`), built by the egress."""

    def __init__(
        self,
        target: ServerTarget,
        egress: Egress,
        api_root: str,
        headers: dict[str, str],
        *,
        timeout: float = 15.0,
    ) -> None:
        self.server, self._token = target.server, target.token
        self._client = egress.client(
            f"{target.server}{api_root}",
            purpose=f"{target.kind.value} admin api",
            ca_file=target.ca_file,
            timeout=timeout,
            headers={**headers, "Accept": "application/json"},
        )

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        try:
            response = self._client.request(
                method, path, params=params, json=inert_fields(json) if json else None
            )
        except httpx.TimeoutException:
            raise ForgeUnavailable(f"{self.server} did not answer in time ({what})") from None
        except httpx.TransportError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise ForgeError(
                    f"TLS verification of {self.server} failed ({what}): give the server's CA "
                    "bundle"
                ) from None
            raise ForgeUnavailable(f"cannot reach {self.server} ({what})") from None
        if response.is_redirect:
            raise ForgeError(f"{self.server} redirected {what}; register its final URL")
        if response.is_error:
            raise error_for_status(
                response.status_code,
                server=self.server,
                what=what,
                detail=scrub(reason_from_body(response.content), self._token),
                retry_after=response.headers.get("Retry-After"),
            )
        return response

    def json(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        response = self.request(method, path, what=what, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ForgeError(f"{self.server} answered {what} with something not JSON") from None

    def get_all(
        self,
        path: str,
        *,
        what: str,
        params: dict[str, Any],
        page_params: Callable[[int], dict[str, Any]],
    ) -> list[Any]:
        """Every page of a list; at most MAX_PAGES pages. The end is what the server says
        (GitLab's `X-Next-Page`, Gitea's `X-Total-Count`), else an empty or short page: a
        server that caps the page size below what was asked must not end the list early."""
        items: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            asked = {**params, **page_params(page)}
            response = self.request("GET", path, what=what, params=asked)
            try:
                batch = response.json()
            except ValueError:
                batch = None
            if not isinstance(batch, list):
                raise ForgeError(f"{self.server} answered {what} with something not a list")
            items.extend(batch)
            next_page = response.headers.get("x-next-page")
            total = response.headers.get("x-total-count", "")
            if not batch or next_page == "":
                return items
            if next_page is None and total.isdigit() and len(items) >= int(total):
                return items
            if next_page is None and not total.isdigit() and len(batch) < PER_PAGE:
                return items
        raise ForgeError(f"{self.server}: {what} has more than {MAX_PAGES} pages; narrow it")
