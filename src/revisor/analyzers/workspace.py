"""The head revision's files, written into a private directory the analyzers read.

Repository paths are untrusted: a path is refused (and named in the errors) when it is absolute,
has an empty, `.` or `..` component, a backslash or a NUL, or is too long; refused paths never
reach the file system. The directory is created 0700 by `tempfile.mkdtemp`, files 0600, and the
whole tree is removed when the `Workspace` closes. Only files an analyzer reads are written
(by extension): a repository's `pyproject.toml`, `ruff.toml`, `.gitignore` or `sgconfig.yml`
never lands next to its code, so it cannot steer the tools (which also run `--isolated` and
with our own `--config`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_PATH_CHARS = 1024
# Bigger files are generated or bundled code, not review material; the total bounds the disk a
# review can fill.
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
ASTGREP_SUFFIXES = frozenset(
    {".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".go", ".java"}
)
ANALYZED_SUFFIXES = PYTHON_SUFFIXES | ASTGREP_SUFFIXES


def refusal(path: str) -> str:
    """Why `path` may not be written under the workspace, or "" when it may."""
    if not path or len(path) > MAX_PATH_CHARS:
        return "empty or too long"
    if "\x00" in path or "\\" in path:
        return "NUL or backslash in the path"
    if path.startswith("/"):
        return "absolute path"
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "empty, '.' or '..' component"
    return ""


@dataclass
class Workspace:
    """A private temporary directory holding the analyzable files of one revision."""

    root: Path
    home: Path  # the tools' $HOME: empty, outside the scanned tree
    written: set[str] = field(default_factory=set)  # repository paths, as written under root
    errors: list[str] = field(default_factory=list)

    def repo_path(self, reported: str) -> str | None:
        """The repository path of a file a tool reported (absolute or relative to the root)."""
        raw = Path(reported)
        full = os.path.normpath(raw if raw.is_absolute() else self.root / raw)
        prefix = str(self.root) + os.sep
        if not full.startswith(prefix):
            return None
        rel = full[len(prefix) :].replace(os.sep, "/")
        return rel if rel in self.written else None

    def suffixes(self) -> set[str]:
        return {PurePosixPath(p).suffix for p in self.written}

    def close(self) -> None:
        shutil.rmtree(self.root.parent, ignore_errors=True)


def open_workspace(sources: Mapping[str, str]) -> Workspace:
    """Write the analyzable files of `sources` (repo path -> text) into a fresh 0700 directory."""
    top = Path(tempfile.mkdtemp(prefix="revisor-analyzers-")).resolve()
    root = top / "src"
    home = top / "home"
    root.mkdir(mode=0o700)
    home.mkdir(mode=0o700)
    ws = Workspace(root=root, home=home)
    total = 0
    for path in sorted(sources):
        why = refusal(path)
        if why:
            ws.errors.append(f"refused path {path[:120]!r}: {why}")
            continue
        if PurePosixPath(path).suffix not in ANALYZED_SUFFIXES:
            continue
        try:
            data = sources[path].encode("utf-8", errors="surrogateescape")
        except UnicodeError:
            ws.errors.append(f"skipped {path[:120]!r}: text that is not encodable")
            continue
        if len(data) > MAX_FILE_BYTES:
            ws.errors.append(f"skipped {path[:120]!r}: over {MAX_FILE_BYTES >> 20} MiB")
            continue
        if total + len(data) > MAX_TOTAL_BYTES:
            ws.errors.append(f"skipped {path[:120]!r}: past {MAX_TOTAL_BYTES >> 20} MiB in all")
            continue
        total += len(data)
        target = root.joinpath(*path.split("/"))
        try:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            ws.errors.append(f"could not write {path[:120]!r}: {type(exc).__name__}")
            continue
        ws.written.add(path)
    return ws
