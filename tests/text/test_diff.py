"""Golden tests for the unified-diff parser."""

from __future__ import annotations

import pytest

from revisor.domain import DiffLine, FileStatus, LineKind
from revisor.text.diff import parse_hunks, parse_unified

MODIFIED = """\
diff --git a/src/app.py b/src/app.py
index 83db48f..bf269f4 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,4 +1,5 @@ def main():
 import os
-import sys
+import sys  # noqa
+import re
\x20
 def main():
@@ -10,2 +11,2 @@ class X:
-    return 1
+    return 2
     pass
"""


def test_modified_file_line_numbers() -> None:
    (f,) = parse_unified(MODIFIED)
    assert (f.old_path, f.new_path, f.status, f.binary) == (
        "src/app.py",
        "src/app.py",
        FileStatus.MODIFIED,
        False,
    )
    h1, h2 = f.hunks
    assert (h1.old_start, h1.old_count, h1.new_start, h1.new_count) == (1, 4, 1, 5)
    assert h1.section == "def main():"
    assert h1.lines == (
        DiffLine(LineKind.CONTEXT, 1, 1, "import os"),
        DiffLine(LineKind.REMOVED, 2, None, "import sys"),
        DiffLine(LineKind.ADDED, None, 2, "import sys  # noqa"),
        DiffLine(LineKind.ADDED, None, 3, "import re"),
        DiffLine(LineKind.CONTEXT, 3, 4, ""),
        DiffLine(LineKind.CONTEXT, 4, 5, "def main():"),
    )
    assert h2.lines == (
        DiffLine(LineKind.REMOVED, 10, None, "    return 1"),
        DiffLine(LineKind.ADDED, None, 11, "    return 2"),
        DiffLine(LineKind.CONTEXT, 11, 12, "    pass"),
    )


def test_new_deleted_renamed_binary_mode_change() -> None:
    text = """\
diff --git a/new.txt b/new.txt
new file mode 100644
index 0000000..3b18e51
--- /dev/null
+++ b/new.txt
@@ -0,0 +1,2 @@
+hello
+world
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
index 3b18e51..0000000
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/old name.py b/new name.py
similarity index 90%
rename from old name.py
rename to new name.py
index 1111111..2222222 100644
--- a/old name.py
+++ b/new name.py
@@ -1 +1 @@
-x = 1
+x = 2
diff --git a/pure/rename.py b/other/rename.py
similarity index 100%
rename from pure/rename.py
rename to other/rename.py
diff --git a/logo.png b/logo.png
index 1111111..2222222 100644
Binary files a/logo.png and b/logo.png differ
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
"""
    files = parse_unified(text)
    summary = [(f.old_path, f.new_path, f.status, f.binary, len(f.hunks)) for f in files]
    assert summary == [
        ("new.txt", "new.txt", FileStatus.ADDED, False, 1),
        ("gone.txt", "gone.txt", FileStatus.DELETED, False, 1),
        ("old name.py", "new name.py", FileStatus.RENAMED, False, 1),
        ("pure/rename.py", "other/rename.py", FileStatus.RENAMED, False, 0),
        ("logo.png", "logo.png", FileStatus.MODIFIED, True, 0),
        ("run.sh", "run.sh", FileStatus.MODIFIED, False, 0),
    ]
    assert files[0].lines() == (
        DiffLine(LineKind.ADDED, None, 1, "hello"),
        DiffLine(LineKind.ADDED, None, 2, "world"),
    )
    assert files[1].path == "gone.txt"
    assert files[1].lines() == (DiffLine(LineKind.REMOVED, 1, None, "bye"),)


def test_git_binary_patch_is_binary_and_its_data_is_skipped() -> None:
    text = """\
diff --git a/a.bin b/a.bin
new file mode 100644
index 0000000..e69de29
GIT binary patch
literal 12
TcmZ?wbhEHbWMp7uVBiD*1C;>+

literal 0
HcmV?d00001

diff --git a/b.txt b/b.txt
--- a/b.txt
+++ b/b.txt
@@ -1 +1 @@
-a
+b
"""
    a, b = parse_unified(text)
    assert (a.path, a.binary, a.status, a.hunks) == ("a.bin", True, FileStatus.ADDED, ())
    assert (b.path, len(b.lines())) == ("b.txt", 2)


def test_no_newline_at_end_of_file_markers_are_not_lines() -> None:
    text = """\
diff --git a/f b/f
--- a/f
+++ b/f
@@ -1,2 +1,2 @@
 keep
-old
\\ No newline at end of file
+new
\\ No newline at end of file
"""
    (f,) = parse_unified(text)
    assert [(d.kind, d.text) for d in f.lines()] == [
        (LineKind.CONTEXT, "keep"),
        (LineKind.REMOVED, "old"),
        (LineKind.ADDED, "new"),
    ]


def test_quoted_paths_are_unquoted() -> None:
    text = (
        'diff --git "a/caf\\303\\251 \\"x\\".txt" "b/caf\\303\\251 \\"x\\".txt"\n'
        "new file mode 100644\n"
        "--- /dev/null\n"
        '+++ "b/caf\\303\\251 \\"x\\".txt"\n'
        "@@ -0,0 +1 @@\n"
        "+hi\n"
    )
    (f,) = parse_unified(text)
    assert f.new_path == 'café "x".txt'
    assert f.status is FileStatus.ADDED


def test_lines_that_look_like_headers_inside_a_hunk_are_content() -> None:
    text = """\
diff --git a/notes.md b/notes.md
--- a/notes.md
+++ b/notes.md
@@ -1,2 +1,2 @@
--- old heading
+++ new heading
 diff --git is just text here
"""
    (f,) = parse_unified(text)
    assert [(d.kind, d.text) for d in f.lines()] == [
        (LineKind.REMOVED, "-- old heading"),
        (LineKind.ADDED, "++ new heading"),
        (LineKind.CONTEXT, "diff --git is just text here"),
    ]


def test_plain_diff_u_with_timestamps_and_preamble() -> None:
    text = """\
From 1234 Mon Sep 17 00:00:00 2001
Subject: [PATCH] fix

--- a/x.c\t2024-01-01 10:00:00.000000000 +0000
+++ b/x.c\t2024-01-02 10:00:00.000000000 +0000
@@ -1 +1 @@
-int a;
+int b;
--\x20
2.43.0
"""
    (f,) = parse_unified(text)
    assert (f.path, f.status, len(f.lines())) == ("x.c", FileStatus.MODIFIED, 2)


def test_crlf_content_is_kept_and_unicode_separators_do_not_split_lines() -> None:
    text = (
        "diff --git a/w.txt b/w.txt\r\n--- a/w.txt\r\n+++ b/w.txt\r\n"
        "@@ -1 +1 @@\r\n-a\r\n+b\u2028c\x0cd\r\n"
    )
    (f,) = parse_unified(text)
    assert [d.text for d in f.lines()] == ["a\r", "b\u2028c\x0cd\r"]


def test_empty_diff_is_empty() -> None:
    assert parse_unified("") == []
    assert parse_unified("\n  \n") == []
    assert parse_hunks("") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello world\nthis is not a diff\n", "no file diff found"),
        ("@@ -1 +1 @@\n-a\n+b\n", "hunk before any file header"),
        ("diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n-a\n+b\n", "ended early"),
        ("diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-a\n?b\n", "expected a diff line"),
        ("diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -x +1 @@\n", "malformed hunk header"),
        ("diff --cc f\n", "combined"),
        ('diff --git "a/f b/f\n', "unterminated"),
    ],
)
def test_garbage_raises_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_unified(text)


def test_parse_hunks_gitlab_field_with_omitted_counts() -> None:
    patch = "@@ -1 +1 @@\n-a\n+b\n@@ -9,0 +10,2 @@ tail\n+c\n+d\n"
    h1, h2 = parse_hunks(patch)
    assert (h1.old_count, h1.new_count) == (1, 1)
    assert (h2.old_start, h2.old_count, h2.new_start, h2.new_count, h2.section) == (
        9,
        0,
        10,
        2,
        "tail",
    )
    assert [d.new_line for d in h2.lines] == [10, 11]


def test_parse_hunks_rejects_text_outside_hunks() -> None:
    with pytest.raises(ValueError, match="expected a hunk header"):
        parse_hunks("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n")
    with pytest.raises(ValueError, match="beyond the hunk"):
        parse_hunks("@@ -1 +1 @@\n-a\n-b\n+c\n")


def test_parse_hunks_binary_marker_means_no_hunks() -> None:
    assert parse_hunks("Binary files a/x.png and b/x.png differ\n") == ()
