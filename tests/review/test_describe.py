from __future__ import annotations

import pytest

from revisor.domain import FileDiff, FileStatus
from revisor.review.describe import describe_change, touched_names
from tests.review.helpers import added_file, hunk, modified_file
from tests.review.markdown_oracle import live_constructs


def test_python_counts_lines_and_names_added_and_changed_definitions() -> None:
    file = modified_file(
        "src/app/jobs.py",
        [
            hunk(10, 10, [(" ", "x = 1"), ("-", "    return a"), ("+", "    return b")],
             section="def run(self, job):"),
            hunk(40, 40, [("+", "async def fetch_all(urls):"), ("+", "    pass"),
                          ("+", "class Cache(Base):")], section="class Runner:"),
        ],
    )  # fmt: skip
    assert touched_names(file) == (("fetch_all", "Cache"), ("run", "Runner"))
    assert describe_change(file) == (
        "Modified, +4/-1 lines; adds `fetch_all`, `Cache`; changes `run`, `Runner`."
    )


@pytest.mark.parametrize(
    ("path", "line", "name"),
    [
        ("web/a.js", "export async function loadUser(id) {", "loadUser"),
        ("web/a.ts", "export default class Store<T> {", "Store"),
        ("web/a.tsx", "const handleClick = async (e: Event): Promise<void> => {", "handleClick"),
        ("web/a.mjs", "let parse = function (s) {", "parse"),
        ("web/a.ts", "  private async save(item: Item): Promise<void> {", "save"),
        ("cmd/main.go", "func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {",
         "ServeHTTP"),
        ("cmd/main.go", "func main() {", "main"),
        ("cmd/main.go", "type Config struct {", "Config"),
        ("src/Bank.java", "public final class Account implements Serializable {", "Account"),
        ("src/Bank.java", "    public static List<String> names(int n) throws IOException {",
         "names"),
        ("src/Bank.java", "    private Map<String, Integer> totals() {", "totals"),
        ("src/Bank.java", "    public Account(String id) {", "Account"),
    ],
)  # fmt: skip
def test_each_language_names_its_definitions(path: str, line: str, name: str) -> None:
    assert touched_names(added_file(path, [line, "  body();"]))[0] == (name,)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("web/a.js", "  if (ready) {"),
        ("web/a.ts", "  for (const x of xs) {"),
        ("web/a.js", "  while (more()) {"),
        ("src/B.java", "        return compute(x);"),
        ("cmd/main.go", "    defer f.Close()"),
        ("a.py", "x = define(y)"),
    ],
)
def test_statements_are_not_definitions(path: str, line: str) -> None:
    assert touched_names(added_file(path, [line])) == ((), ())


def test_statuses_binary_and_unknown_languages() -> None:
    assert describe_change(added_file("README.md", ["# Title", "def not_code():"])) == (
        "New file, +2/-0 lines."
    )
    deleted = FileDiff("old.py", "old.py", FileStatus.DELETED, (hunk(1, 0, [("-", "def f():")]),))
    assert describe_change(deleted) == "Deleted, +0/-1 line."
    renamed = FileDiff("a/old.go", "a/new.go", FileStatus.RENAMED, ())
    assert describe_change(renamed) == "Renamed from `a/old.go`, +0/-0 lines."
    binary = FileDiff("logo.png", "logo.png", FileStatus.MODIFIED, (), binary=True)
    assert describe_change(binary) == "Modified (binary file)."


def test_names_are_capped_and_counted() -> None:
    lines = [f"def f{i}():" for i in range(8)]
    assert describe_change(added_file("m.py", lines)).endswith(
        "adds `f0`, `f1`, `f2`, `f3`, `f4` and 3 more."
    )


def test_only_ascii_identifiers_leave_the_diff_and_the_sentence_is_inert() -> None:
    """The diff is the MR author's: nothing but an identifier reaches the sentence."""
    file = modified_file(
        "x.py",
        [
            hunk(1, 1, [("+", "def ok_name(): pass  # @all see https://evil/x <img src=x>"),
                        ("+", "def naïve(): pass")],
                 section="class `@all` <b>/approve</b>:"),
        ],
    )  # fmt: skip
    renamed = FileDiff("`@all` /merge <b>.py", "y.py", FileStatus.RENAMED, file.hunks)
    for each in (file, renamed):
        text = describe_change(each)
        assert "https" not in text
        assert "img" not in text
        assert "naïve" not in text
        assert live_constructs(text) == []
    assert touched_names(file) == (("ok_name",), ())
