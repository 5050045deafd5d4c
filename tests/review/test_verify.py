"""The verification pass and the fusion of analyzer hits, through the engine."""

from __future__ import annotations

import json
from collections.abc import Sequence

from revisor.config import ReviewSettings
from revisor.domain import (
    AnalyzerHit,
    ChatMessage,
    Completion,
    FileDiff,
    Finding,
    RouteHints,
    Severity,
    Usage,
)
from revisor.review.engine import review_files
from revisor.review.policy import build_policy
from revisor.review.prompt import read_prompt
from revisor.review.verify import grounded, parse_verdict
from revisor.text.diff import parse_unified
from tests.review.helpers import hunk, modified_file

DIFF = """\
diff --git a/app.py b/app.py
--- a/app.py
+++ b/app.py
@@ -1,3 +1,6 @@
 import sqlite3
+
+def search(conn, q):
+    return conn.execute(f"SELECT * FROM t WHERE a = '{q}'").fetchall()
\x20
 def other():
"""
HEAD = (
    "import sqlite3\n\ndef search(conn, q):\n"
    "    return conn.execute(f\"SELECT * FROM t WHERE a = '{q}'\").fetchall()\n\ndef other():\n"
)
VERIFY_SYSTEM = read_prompt("verify_system.txt").strip()


class Model:
    """Answers the review with `review`, each verification with `judge(user message)`."""

    def __init__(self, review: str, judge: object) -> None:
        self.review, self.judge = review, judge
        self.reviews: list[list[ChatMessage]] = []
        self.verifications: list[str] = []

    @property
    def concurrency(self) -> int:
        return 1

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        json_mode: bool = True,
        hints: RouteHints | None = None,
    ) -> Completion:
        if messages[0].content == VERIFY_SYSTEM:
            self.verifications.append(messages[1].content)
            text = self.judge(messages[1].content)  # type: ignore[operator]
        else:
            self.reviews.append(list(messages))
            text = self.review
        return Completion(text, "m", "http://127.0.0.1:1", Usage(10, 2, 1, 1))


def _finding(title: str, code: str, severity: str = "major") -> dict[str, object]:
    return {"path": "app.py", "code": code, "line": 99, "severity": severity, "title": title}


def _run(model: Model, hits: Sequence[AnalyzerHit] = (), **review: bool):  # type: ignore[no-untyped-def]
    return review_files(
        parse_unified(DIFF),
        mr=None,
        policy=build_policy(ReviewSettings(**review)),
        model=model,
        context_tokens=8192,
        max_output_tokens=256,
        read_head=lambda path: HEAD if path == "app.py" else None,
        analyze=lambda heads: (tuple(hits), ("ast-grep: timed out",)),
    )


def verdict(real: bool) -> str:
    return json.dumps({"verdict": "real" if real else "false", "reason": "checked"})


def test_findings_the_verifier_rejects_are_not_posted_but_kept_and_counted() -> None:
    review = json.dumps(
        {
            "findings": [
                _finding("SQL injection", "def search(conn, q):", "critical"),
                _finding("Imports unused module", "import sqlite3"),
            ]
        }
    )
    model = Model(review, lambda user: verdict("SQL injection" in user))
    result = _run(model)
    assert [f.title for f in result.findings] == ["SQL injection"]
    assert [f.title for f in result.unconfirmed] == ["Imports unused module"]
    assert len(model.verifications) == 2
    # The verifier saw the cited line marked, inside an untrusted block, and the widened code
    sql = next(v for v in model.verifications if "SQL injection" in v)
    assert ">>" in sql.split("def search", 1)[0].rsplit("\n", 1)[-1]
    assert "<<<UNTRUSTED_CODE" in sql
    assert "def other():" in sql
    assert result.analyzer_errors == ("ast-grep: timed out",)


def test_an_unusable_verdict_keeps_the_finding_and_counts_it() -> None:
    model = Model(
        json.dumps({"findings": [_finding("SQL injection", "def search(conn, q):")]}),
        lambda u: "¯\\_(ツ)_/¯",
    )
    result = _run(model)
    assert [f.title for f in result.findings] == ["SQL injection"]
    assert result.unverified == 1
    hit = AnalyzerHit("ruff", "S608", "app.py", 4, 4, Severity.MAJOR, "SQL built from strings.")
    only_hit = _run(Model('{"findings": []}', lambda u: "hmm?"), [hit])
    assert only_hit.findings == ()
    assert [f.rule for f in only_hit.unconfirmed] == ["S608"]


def test_an_analyzer_hit_is_posted_only_when_the_model_confirms_it_with_its_source_named() -> None:
    hit = AnalyzerHit(
        "ruff", "S608", "app.py", 4, 4, Severity.MAJOR, "SQL built from strings. Use parameters."
    )
    unused = AnalyzerHit("ruff", "S101", "app.py", 1, 1, Severity.MAJOR, "On an unchanged line.")
    confirmed = _run(Model('{"findings": []}', lambda u: verdict(True)), [hit, unused])
    assert [(f.source, f.rule, f.new_line) for f in confirmed.findings] == [("ruff", "S608", 4)]
    assert "Found by ruff (S608)" in confirmed.findings[0].body
    assert "Confirmed by the model: checked" in confirmed.findings[0].body
    rejected = _run(Model('{"findings": []}', lambda u: verdict(False)), [hit])
    assert rejected.findings == ()
    assert [f.rule for f in rejected.unconfirmed] == ["S608"]
    unverified = _run(Model('{"findings": []}', lambda u: verdict(True)), [hit], verify=False)
    assert unverified.findings == ()
    assert [f.rule for f in unverified.unconfirmed] == ["S608"]


def test_a_hit_the_model_also_found_is_one_finding_naming_the_rule_and_needs_no_extra_call() -> (
    None
):
    hit = AnalyzerHit("ruff", "S608", "app.py", 4, 4, Severity.MAJOR, "SQL built from strings.")
    code = "return conn.execute(f\"SELECT * FROM t WHERE a = '{q}'\").fetchall()"
    review = json.dumps({"findings": [_finding("SQL injection", code)]})
    model = Model(review, lambda u: verdict(True))
    result = _run(model, [hit])
    assert [(f.source, f.rule) for f in result.findings] == [("model", "S608")]
    assert "Also flagged by ruff S608" in result.findings[0].body
    assert len(model.verifications) == 1


def test_with_verification_off_there_is_one_call_per_chunk() -> None:
    model = Model(
        json.dumps({"findings": [_finding("SQL injection", "def search(conn, q):")]}),
        lambda u: verdict(False),
    )
    result = _run(model, verify=False)
    assert len(result.findings) == 1
    assert model.verifications == []
    assert len(model.reviews) == 1


def test_parse_verdict_reads_json_and_plain_words_and_refuses_neither() -> None:
    assert parse_verdict('{"verdict": "real", "reason": "yes"}') == parse_verdict(
        '```json\n{"verdict":"REAL","reason":"yes"}\n```'
    )
    assert parse_verdict('{"verdict": "false", "reason": "guarded"}').real is False  # type: ignore[union-attr]
    assert parse_verdict('{"verdict": true}').real is True  # type: ignore[union-attr]
    assert parse_verdict("No, the value is checked above.").real is False  # type: ignore[union-attr]
    assert parse_verdict("") is None
    assert parse_verdict("maybe?") is None


NO_SQL = """\
diff --git a/store.go b/store.go
--- a/store.go
+++ b/store.go
@@ -1,1 +1,5 @@
 package store
+
+func (s *Store) Put(name string, data []byte) int {
+\treturn s.count + len(data)
+}
"""


def test_a_claim_the_code_cannot_hold_is_rejected_without_asking_the_model() -> None:
    review = json.dumps(
        {
            "findings": [
                {"path": "store.go", "code": "func (s *Store) Put(name string, data []byte) int {",
                 "line": 3, "severity": "major", "title": "Injection: SQL-like injection in Put"},
                {"path": "store.go", "code": "\treturn s.count + len(data)", "line": 4,
                 "severity": "major", "title": "Count read without the lock"},
            ]
        }
    )  # fmt: skip
    model = Model(review, lambda user: verdict(True))
    result = review_files(
        parse_unified(NO_SQL),
        mr=None,
        policy=build_policy(ReviewSettings()),
        model=model,
        context_tokens=8192,
        max_output_tokens=256,
    )
    assert [f.title for f in result.findings] == ["Count read without the lock"]
    assert [f.title for f in result.unconfirmed] == ["Injection: SQL-like injection in Put"]
    assert len(model.verifications) == 1
    assert "Count read" in model.verifications[0]


def _claim(title: str, line: int = 1) -> Finding:
    return Finding("a.py", "a.py", None, line, Severity.MAJOR, title, "")


def _code(*lines: str) -> FileDiff:
    """A new file of these added lines (as the diff shows them: "+" before each)."""
    return modified_file("a.py", [hunk(0, 1, [("+", text) for text in lines])])


def test_grounded_needs_the_evidence_of_each_claim_in_the_code_shown() -> None:
    query = _code('cur.execute(f"SELECT * FROM t WHERE a = {q}")')
    assert grounded(_claim("SQL injection"), query)
    assert not grounded(_claim("SQL injection"), _code("return a + b"))
    assert grounded(_claim("Command injection"), _code("subprocess.call(cmd, shell=True)"))
    assert not grounded(_claim("Command injection"), _code("total = price * count"))
    assert grounded(_claim("Path traversal in download"), _code("open(os.path.join(root, n))"))
    assert not grounded(_claim("Path traversal"), _code("total += price"))
    assert grounded(_claim("Race on the counter"), _code("x = 1"))  # a kind it does not judge
    assert not grounded(_claim("SQL injection and path traversal"), query)  # every claim


def test_an_sql_injection_needs_a_string_built_from_values_near_its_line() -> None:
    far = ['url = f"{GATEWAY}/refunds"'] + ["pass"] * 6
    placeholders = [
        "stmt = conn.prepareStatement(",  # the diff's "+" before a quoted line is not a "+"
        '    "UPDATE payments SET state = ? WHERE id = ?")',
    ]
    assert not grounded(_claim("SQL injection in the update", 8), _code(*far, *placeholders))
    for built in (
        'tx.execute(f"UPDATE t SET a = {a}")',
        'q = "SELECT * FROM users WHERE name = \'" + name + "\'"',
        'rows := db.Query(fmt.Sprintf("SELECT * FROM t WHERE id = %s", id))',
        "const rows = await db.query(`SELECT * FROM t WHERE id = ${id}`);",
        'cur.execute("SELECT * FROM t WHERE id = %s" % ident)',
    ):
        assert grounded(_claim("SQL injection", 8), _code(*far, built)), built
    # the string may be built on a line just above the call
    above = _code('sql = "SELECT * FROM t WHERE a = " + value', "cur.execute(sql)")
    assert grounded(_claim("SQL injection", 2), above)
