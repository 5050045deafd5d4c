"""Seed data shared by the fakes: one changed file of a merge request, and its diff lines.

The fakes deliberately do not use `revisor.text.diff`: they enumerate diff lines with their
own few lines of code, so a bug in our parser cannot hide a bug in our positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class FakeFile:
    """One changed file. `diff` is GitLab's per-file text: hunks only, starting at `@@`."""

    new_path: str
    diff: str = ""
    old_path: str = ""  # defaults to new_path
    new_file: bool = False
    deleted_file: bool = False
    renamed_file: bool = False
    binary: bool = False
    too_large: bool = False

    @property
    def old(self) -> str:
        return self.old_path or self.new_path

    def git_diff(self) -> str:
        """This file as a section of `git diff` output (what Gitea's `.diff` endpoint returns)."""
        old, new = self.old, self.new_path
        out = [f"diff --git a/{old} b/{new}"]
        if self.new_file:
            out.append("new file mode 100644")
        if self.deleted_file:
            out.append("deleted file mode 100644")
        if self.renamed_file:
            out += ["similarity index 90%", f"rename from {old}", f"rename to {new}"]
        out.append(
            "index 1111111..2222222" + ("" if self.new_file or self.deleted_file else " 100644")
        )
        a = "/dev/null" if self.new_file else f"a/{old}"
        b = "/dev/null" if self.deleted_file else f"b/{new}"
        if self.binary:
            out.append(f"Binary files {a} and {b} differ")
            return "\n".join(out) + "\n"
        if self.diff:
            out += [f"--- {a}", f"+++ {b}"]
            return "\n".join(out) + "\n" + self.diff.rstrip("\n") + "\n"
        return "\n".join(out) + "\n"


def diff_lines(patch: str) -> set[tuple[int | None, int | None]]:
    """Every line of the patch as (old_line, new_line): added (None, n), removed (o, None),
    context (o, n) — exactly the combinations GitLab accepts in a position."""
    result: set[tuple[int | None, int | None]] = set()
    old = new = 0
    for line in patch.split("\n"):
        m = _HUNK.match(line)
        if m:
            old, new = int(m.group(1)), int(m.group(3))
            continue
        if not line or line.startswith("\\"):  # end of text, "\ No newline at end of file"
            continue
        tag = line[0]
        if tag == "+":
            result.add((None, new))
            new += 1
        elif tag == "-":
            result.add((old, None))
            old += 1
        elif tag == " ":
            result.add((old, new))
            old += 1
            new += 1
    return result


def modified(path: str) -> FakeFile:
    """A small modified file: context line 1, removed old line 2, added new line 2, context 3."""
    return FakeFile(path, "@@ -1,3 +1,3 @@\n import os\n-x = 1\n+x = 2\n y = 3\n")
