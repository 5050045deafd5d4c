"""The quality corpus format: diffs computed from base/head trees, truth.toml parsed and every
planted defect checked against the diff, and the shipped corpus itself loading cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.quality.corpus import (
    CORPUS_DIR,
    KINDS,
    CorpusError,
    changed_files,
    file_diff,
    load_corpus,
    load_mr,
    parse_truth,
)

from tests.fakes.model import diff_lines

BASE = "def total(rows):\n    s = 0\n    for r in rows:\n        s += r\n    return s\n"
HEAD = (
    "def total(rows):\n    s = 0\n    for i in range(len(rows) + 1):\n"
    "        s += rows[i]\n    return s\n"
)
TRUTH = """
title = "Sum by index"
[[defect]]
id = "obo"
kind = "off-by-one"
path = "app/calc.py"
lines = [3, 4]
description = "range runs one past the end"
keywords = ["range", "IndexError"]
"""


def write_mr(root: Path, truth: str = TRUTH, base: str = BASE, head: str = HEAD) -> Path:
    mr = root / "py-sum"
    for side, text in (("base", base), ("head", head)):
        (mr / side / "app").mkdir(parents=True, exist_ok=True)
        (mr / side / "app" / "calc.py").write_text(text)
        (mr / side / "README.md").write_text("unchanged\n")
    (mr / "truth.toml").write_text(truth)
    return mr


def test_file_diff_is_gitlab_hunk_text_whose_lines_the_fake_accepts() -> None:
    diff = file_diff(BASE, HEAD)
    assert diff.startswith("@@ -1,5 +1,5 @@\n")
    assert "-    for r in rows:\n" in diff
    assert "+        s += rows[i]\n" in diff
    added = sorted(n for o, n in diff_lines(diff) if o is None)
    assert added == [3, 4]


def test_new_and_deleted_files_and_unchanged_ones_left_out() -> None:
    files = changed_files({"a.py": "x\n", "same.py": "s\n"}, {"b.py": "y\n", "same.py": "s\n"})
    assert [(f.new_path, f.new_file, f.deleted_file) for f in files] == [
        ("a.py", False, True),
        ("b.py", True, False),
    ]
    assert files[1].diff == "@@ -0,0 +1 @@\n+y\n"


def test_load_mr_reads_trees_truth_and_keeps_unchanged_files_as_content(tmp_path: Path) -> None:
    mr = load_mr(write_mr(tmp_path))
    assert (mr.id, mr.title, mr.clean, mr.languages) == (
        "py-sum",
        "Sum by index",
        False,
        ("Python",),
    )
    assert [f.new_path for f in mr.files] == ["app/calc.py"]
    assert mr.head["README.md"] == "unchanged\n"
    assert mr.changed_lines == 4
    (d,) = mr.defects
    assert (d.kind, d.start, d.end, d.keywords) == ("off-by-one", 3, 4, ("range", "IndexError"))


def test_a_clean_mr_has_no_defects(tmp_path: Path) -> None:
    assert load_mr(write_mr(tmp_path, truth='title = "Tidy"\n')).clean


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("lines = [3, 4]", "lines = [1, 2]"), "add nothing"),  # context lines only
        (("lines = [3, 4]", "lines = [4, 9]"), "not in the diff"),
        (("lines = [3, 4]", "lines = [4, 3]"), "1 <= start <= end"),
        (('path = "app/calc.py"', 'path = "README.md"'), "not a changed file"),
        (('kind = "off-by-one"', 'kind = "typo"'), "is not one of"),
        (('id = "obo"', 'id = ""'), "id must be a non-empty string"),
        (('keywords = ["range", "IndexError"]', "keywords = 3"), "keywords must be a list"),
        (('title = "Sum by index"', ""), "needs a title"),
        (("[[defect]]", "[[defects]]"), "unknown key(s) in truth.toml: defects"),
        (('description = "range', 'descr = "range'), "unknown key(s): descr"),
    ],
)
def test_bad_truth_is_refused_by_name(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    with pytest.raises(CorpusError, match="py-sum") as err:
        load_mr(write_mr(tmp_path, truth=TRUTH.replace(*edit)))
    assert message in str(err.value)


def test_duplicate_defect_ids_and_bad_toml_are_refused() -> None:
    twice = TRUTH + TRUTH.split('title = "Sum by index"')[1]
    with pytest.raises(CorpusError, match="not unique"):
        parse_truth("m", twice)
    with pytest.raises(CorpusError, match="not valid TOML"):
        parse_truth("m", "title = ")


def test_an_mr_that_changes_nothing_or_lacks_truth_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="changes nothing"):
        load_mr(write_mr(tmp_path, truth='title = "Noop"\n', head=BASE))
    (tmp_path / "py-sum" / "truth.toml").unlink()
    with pytest.raises(CorpusError, match=r"no truth\.toml"):
        load_mr(tmp_path / "py-sum")


def test_load_corpus_selects_by_id_and_names_unknown_ones(tmp_path: Path) -> None:
    write_mr(tmp_path)
    assert [m.id for m in load_corpus(tmp_path, ("py-sum",))] == ["py-sum"]
    with pytest.raises(CorpusError, match=r"no such corpus MR.*nope"):
        load_corpus(tmp_path, ("nope",))


def test_the_shipped_corpus_loads_and_meets_the_benchmarks_minimums() -> None:
    """Issue 15 item 1: >= 12 MRs in Python, JS/TS, Go and Java, >= 30 defects across the kinds,
    clean MRs, several MRs of 500+ changed lines. Loading also checks every defect's lines."""
    corpus = load_corpus(CORPUS_DIR)
    assert len(corpus) >= 12
    assert sum(len(mr.defects) for mr in corpus) >= 30
    assert sum(mr.clean for mr in corpus) >= 2
    assert sum(mr.changed_lines >= 500 for mr in corpus) >= 2
    languages = {lang for mr in corpus for lang in mr.languages}
    assert {"Python", "Go", "Java"} <= languages
    assert languages & {"JavaScript", "TypeScript"}
    assert {d.kind for mr in corpus for d in mr.defects} == KINDS
    for mr in corpus:
        assert mr.languages, f"{mr.id}: no file in a benchmarked language"
