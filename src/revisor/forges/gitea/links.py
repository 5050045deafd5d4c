"""Gitea and Forgejo web links (for the dashboard), built from the allowed server URL."""

from __future__ import annotations

from urllib.parse import quote

from revisor.forges.base import MergeRequestLinks


def merge_request_links(server: str, project: str, number: int) -> MergeRequestLinks:
    pr = f"{server.rstrip('/')}/{quote(project, safe='/')}/pulls/{number}"
    return MergeRequestLinks(merge_request=pr, changes=f"{pr}/files")
