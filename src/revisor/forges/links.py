"""Links from the dashboard back to the Git server: built only from the registered server URL
and project (what an admin allowed), never from text in a webhook or a merge request.

Each forge package says how its pages are laid out (`gitlab/links.py`, `gitea/links.py`);
this module checks the parts: a SHA is hex, a line is a positive number, a file path has no
`..` segment, and each piece is percent-encoded, so no text can turn a link into another one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urlsplit

from revisor.domain import ForgeKind

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


class Layout(Protocol):
    def merge_request(self, base: str, number: int) -> str: ...
    def commit(self, base: str, sha: str) -> str: ...
    def file_at(self, base: str, sha: str, path: str, line: int | None) -> str: ...
    def branch(self, base: str, branch: str) -> str: ...


@dataclass(frozen=True)
class WebLinks:
    """Links into one project on its server; every method returns None when a part is odd."""

    base: str  # server URL + "/" + the project, each segment encoded
    layout: Layout

    def merge_request(self, number: int | None) -> str | None:
        if not isinstance(number, int) or number <= 0:
            return None
        return self.layout.merge_request(self.base, number)

    def commit(self, sha: str | None) -> str | None:
        if not sha or not _SHA.fullmatch(sha):
            return None
        return self.layout.commit(self.base, sha)

    def file_at(self, sha: str | None, path: str | None, line: object = None) -> str | None:
        if not sha or not _SHA.fullmatch(sha) or not path or not _safe_path(path):
            return None
        n = line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else None
        return self.layout.file_at(self.base, sha, quote(path.lstrip("/"), safe="/"), n)

    def branch(self, name: str | None) -> str | None:
        if not name or ".." in name or name.startswith("/"):
            return None
        return self.layout.branch(self.base, quote(name, safe="/"))


def _safe_path(path: str) -> bool:
    return all(part not in ("..", ".") for part in path.split("/")) and "\\" not in path


def web_links(kind: ForgeKind, server: str, project: str) -> WebLinks | None:
    """The links of a registered repository; None when the server URL is not http(s)."""
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    segments = [s for s in project.split("/") if s]
    if not segments or any(s in ("..", ".") for s in segments):
        return None
    base = server.rstrip("/") + "/" + "/".join(quote(s, safe="") for s in segments)
    if kind is ForgeKind.GITLAB:
        from revisor.forges.gitlab.links import GITLAB

        return WebLinks(base, GITLAB)
    from revisor.forges.gitea.links import GITEA

    return WebLinks(base, GITEA)
