"""Where GitLab shows a merge request, a commit, a file line and a branch (see forges/links.py)."""

from __future__ import annotations


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
