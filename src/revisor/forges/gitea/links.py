"""Where Gitea and Forgejo show a pull request, a commit, a file line and a branch (see
forges/links.py), built from the allowed server URL, never from webhook or MR text."""

from __future__ import annotations

from urllib.parse import quote

from revisor.forges.base import MergeRequestLinks


class _Gitea:
    def merge_request(self, base: str, number: int) -> str:
        return f"{base}/pulls/{number}"

    def commit(self, base: str, sha: str) -> str:
        return f"{base}/commit/{sha}"

    def file_at(self, base: str, sha: str, path: str, line: int | None) -> str:
        return f"{base}/src/commit/{sha}/{path}" + (f"#L{line}" if line else "")

    def branch(self, base: str, branch: str) -> str:
        return f"{base}/src/branch/{branch}"


GITEA = _Gitea()


def merge_request_links(server: str, project: str, number: int) -> MergeRequestLinks:
    pr = GITEA.merge_request(f"{server.rstrip('/')}/{quote(project, safe='/')}", number)
    return MergeRequestLinks(merge_request=pr, changes=f"{pr}/files")
