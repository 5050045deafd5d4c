"""Where Gitea and Forgejo show a pull request, a commit, a file line and a branch (see
forges/links.py)."""

from __future__ import annotations


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
