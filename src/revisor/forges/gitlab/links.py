"""Where GitLab shows a merge request, a commit, a file line and a branch (see forges/links.py),
built from the allowed server URL, never from webhook or MR text."""

from __future__ import annotations

from urllib.parse import quote

from revisor.forges.base import MergeRequestLinks


class _GitLab:
    def merge_request(self, base: str, number: int) -> str:
        return f"{base}/-/merge_requests/{number}"

    def commit(self, base: str, sha: str) -> str:
        return f"{base}/-/commit/{sha}"

    def file_at(self, base: str, sha: str, path: str, line: int | None) -> str:
        return f"{base}/-/blob/{sha}/{path}" + (f"#L{line}" if line else "")

    def branch(self, base: str, branch: str) -> str:
        return f"{base}/-/tree/{branch}"


GITLAB = _GitLab()


def merge_request_links(server: str, project: str, number: int) -> MergeRequestLinks:
    mr = GITLAB.merge_request(f"{server.rstrip('/')}/{quote(project, safe='/')}", number)
    return MergeRequestLinks(merge_request=mr, changes=f"{mr}/diffs")
