"""The quality corpus: planted-bug merge requests, read from `bench/quality/corpus/<mr-id>/`.

One directory per merge request:

    <mr-id>/base/...   the files before the change (absent for a file the MR adds)
    <mr-id>/head/...   the files after it (absent for a file the MR deletes)
    <mr-id>/truth.toml what a good reviewer should find

The diff is computed here (difflib, 3 context lines, GitLab's per-file hunk text), so an author
writes real code twice and never edits a patch by hand. Files identical on both sides are not
in the diff but are kept as repository content (context a reviewer may read).

truth.toml:

    title = "Add CSV export"          # the MR title (required)
    description = "..."               # optional MR description
    [[defect]]                        # none at all: a clean MR, a review should flag nothing
    id = "export-sqli"                # unique within the MR
    kind = "injection"                # one of KINDS
    path = "app/export.py"            # a changed file, head side
    lines = [14, 15]                  # head-side line range, inclusive
    description = "user input formatted into SQL"
    keywords = ["sql", "parameter"]   # optional: words a correct explanation would use

Validation (`load_mr` raises CorpusError naming the MR and defect): every line of a defect's
range is a line GitLab accepts a comment on (added or context, new side) and at least one of
them is an added line: a planted defect is always something the MR changes.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.model import FakeFile, diff_lines

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
CONTEXT_LINES = 3
KINDS = frozenset(
    {
        "injection",
        "off-by-one",
        "unchecked-error",
        "null-dereference",
        "resource-leak",
        "race",
        "broken-auth",
        "path-traversal",
        "secret",
        "money-float",
        "wrong-api",
        "logic",
    }
)
LANGUAGES = {
    ".py": "Python",
    ".js": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".go": "Go",
    ".java": "Java",
}
_TOP_KEYS = {"title", "description", "defect"}
_DEFECT_KEYS = {"id", "kind", "path", "lines", "description", "keywords"}


class CorpusError(ValueError):
    """A corpus MR that cannot be used as it is; the message names the MR and the problem."""


@dataclass(frozen=True)
class Defect:
    id: str
    kind: str
    path: str
    start: int
    end: int
    description: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class CorpusMR:
    id: str
    title: str
    description: str
    files: tuple[FakeFile, ...]  # the changed files, as the fake GitLab serves them
    base: dict[str, str]  # path -> content before (every file, changed or not)
    head: dict[str, str]  # path -> content after
    defects: tuple[Defect, ...]

    @property
    def clean(self) -> bool:
        return not self.defects

    @property
    def changed_lines(self) -> int:
        # The diffs carry no ---/+++ headers: every line starting with + or - is a change.
        return sum(1 for f in self.files for ln in f.diff.split("\n") if ln[:1] in ("+", "-"))

    @property
    def languages(self) -> tuple[str, ...]:
        found = {LANGUAGES.get(Path(f.new_path).suffix, "") for f in self.files}
        return tuple(sorted(x for x in found if x))


def file_diff(old: str, new: str) -> str:
    """GitLab's per-file diff text (hunks only, from `@@`) between two contents."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=CONTEXT_LINES)
    body = [ln for i, ln in enumerate(lines) if i >= 2]  # drop the ---/+++ header
    return "\n".join(body) + "\n" if body else ""


def changed_files(base: dict[str, str], head: dict[str, str]) -> tuple[FakeFile, ...]:
    """Modified, added and deleted files, in path order."""
    out: list[FakeFile] = []
    for path in sorted(set(base) | set(head)):
        old, new = base.get(path), head.get(path)
        if old == new:
            continue
        out.append(
            FakeFile(
                path,
                file_diff(old or "", new or ""),
                new_file=old is None,
                deleted_file=new is None,
            )
        )
    return tuple(out)


def read_tree(root: Path) -> dict[str, str]:
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def parse_truth(mr_id: str, text: str) -> tuple[str, str, tuple[Defect, ...]]:
    """Title, description and defects of one truth.toml; CorpusError on any shape problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CorpusError(f"{mr_id}: truth.toml is not valid TOML: {exc}") from None
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise CorpusError(f"{mr_id}: unknown key(s) in truth.toml: {', '.join(sorted(unknown))}")
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise CorpusError(f"{mr_id}: truth.toml needs a title")
    entries = raw.get("defect", [])
    if not isinstance(entries, list):
        raise CorpusError(f"{mr_id}: defect must be an array of tables ([[defect]])")
    defects = tuple(_defect(mr_id, n, e) for n, e in enumerate(entries))
    ids = [d.id for d in defects]
    if len(set(ids)) != len(ids):
        raise CorpusError(f"{mr_id}: defect ids are not unique: {', '.join(sorted(ids))}")
    return title, str(raw.get("description", "")), defects


def _defect(mr_id: str, n: int, entry: Any) -> Defect:
    where = f"{mr_id}: defect #{n + 1}"
    if not isinstance(entry, dict):
        raise CorpusError(f"{where} must be a table")
    unknown = set(entry) - _DEFECT_KEYS
    if unknown:
        raise CorpusError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}")
    for key in ("id", "kind", "path", "description"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise CorpusError(f"{where}: {key} must be a non-empty string")
    where = f"{mr_id}: defect {entry['id']!r}"
    if entry["kind"] not in KINDS:
        raise CorpusError(f"{where}: kind {entry['kind']!r} is not one of {sorted(KINDS)}")
    lines = entry.get("lines")
    if (
        not isinstance(lines, list)
        or len(lines) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in lines)
        or not 1 <= lines[0] <= lines[1]
    ):
        raise CorpusError(f"{where}: lines must be [start, end] with 1 <= start <= end")
    keywords = entry.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise CorpusError(f"{where}: keywords must be a list of strings")
    return Defect(
        entry["id"],
        entry["kind"],
        entry["path"],
        lines[0],
        lines[1],
        entry["description"],
        tuple(keywords),
    )


def check_defects(mr_id: str, files: tuple[FakeFile, ...], defects: tuple[Defect, ...]) -> None:
    """Every defect sits on its file's diff: all lines commentable, at least one added."""
    by_path = {f.new_path: f for f in files if not f.deleted_file}
    for d in defects:
        f = by_path.get(d.path)
        if f is None:
            raise CorpusError(f"{mr_id}: defect {d.id!r}: {d.path} is not a changed file")
        positions = diff_lines(f.diff)
        new_side = {new for _old, new in positions if new is not None}
        added = {new for old, new in positions if old is None and new is not None}
        span = set(range(d.start, d.end + 1))
        outside = sorted(span - new_side)
        if outside:
            raise CorpusError(
                f"{mr_id}: defect {d.id!r}: line(s) {outside} of {d.path} are not in the diff"
            )
        if not span & added:
            raise CorpusError(
                f"{mr_id}: defect {d.id!r}: lines {d.start}-{d.end} of {d.path} add nothing"
            )


def load_mr(directory: Path) -> CorpusMR:
    mr_id = directory.name
    truth = directory / "truth.toml"
    if not truth.is_file():
        raise CorpusError(f"{mr_id}: no truth.toml")
    title, description, defects = parse_truth(mr_id, truth.read_text(encoding="utf-8"))
    base, head = read_tree(directory / "base"), read_tree(directory / "head")
    files = changed_files(base, head)
    if not files:
        raise CorpusError(f"{mr_id}: base/ and head/ are identical: the MR changes nothing")
    check_defects(mr_id, files, defects)
    return CorpusMR(mr_id, title, description, files, base, head, defects)


def load_corpus(root: Path = CORPUS_DIR, only: tuple[str, ...] = ()) -> list[CorpusMR]:
    """Every MR under `root` (sorted by id), or just those named in `only` (unknown: error)."""
    available = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    missing = [m for m in only if m not in available]
    if missing:
        raise CorpusError(f"no such corpus MR(s): {', '.join(missing)} (have: {available})")
    return [load_mr(root / m) for m in (only or tuple(available))]
