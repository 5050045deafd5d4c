"""Worst cases for the matchers that read repository- and MR-controlled text: before and after.

    .venv/bin/python -m bench.pathological [--cap 10]

Before: what Revisor ran until the switch to RE2. Ignore globs went through pathspec's `re`
backend (`backend="simple"`, what `GitIgnoreSpec.from_lines` picks when `google-re2` is absent),
and redaction used backtracking `re` patterns (kept as `tests/review/redact_reference.py`).
After: `review/policy.ignore_spec` (pathspec on RE2) and `review/redact` (RE2).

Each "before" case runs in a child process with a time cap (`--cap`, default 10 s), because
some of them would run for minutes; a capped case is reported as `> cap`. Every case also
checks that the answer is right, so a fast wrong answer cannot pass for a fix.

Writes `bench/results/pathological.md` and returns the figures for `bench/run.py`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
DEFAULT_CAP = 10.0  # per "before" glob case
LINE_CAP = 30.0  # per "before" line case: the OpenAI one took 7-14 s on these machines

DEEP = "a/" * 500  # 500 directories deep
GLOB_CASES = [  # (stars k, file name): the pattern is "*a" * k + "*b"; the name never matches
    (4, "a" * 60 + "c"),
    (6, "a" * 60 + "c"),
    (7, "a" * 60 + "c"),
    (8, "a" * 60 + "c"),
    (9, "a" * 60 + "c"),
    (40, "a" * 200 + "c"),
    (140, "a" * 200 + "c"),  # 282 characters, just under the 300-character cap
]
N = 200_000
LINE_CASES: dict[str, str] = {  # 200 KB lines; none holds a real secret except where said
    "OpenAI: 'sk-' x 66,666 after one T3BlbkFJ": "T3BlbkFJ " + "sk-" * (N // 3),
    "JWT: 'eyJ-' x 50,000": "eyJ-" * (N // 4),
    "Slack: 'xoxb-' x 40,000": "xoxb-" * (N // 5),
    "assignment: 'token=\"' then 'token' x 40,000": 'token="' + "token" * (N // 5),
    "URL: 'a://b:' x 33,333": "a://b:" * (N // 6),
    "one real OpenAI key 200 KB long": "k sk-" + "A" * N + "T3BlbkFJ" + "B" * 20,
}


DESCRIPTION = ("T3BlbkFJ " + "sk-" * 10_000 + "\n") * 33


def _child(code: str, cap: float) -> float | None:
    """Seconds reported by `code` (it prints them) in a fresh interpreter; None past `cap`."""
    env_path = f"{ROOT / 'src'}:{ROOT}"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=cap,
            check=True,
            cwd=ROOT,
            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired:
        return None
    return float(done.stdout.strip().splitlines()[-1])


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _fmt(seconds: float | None, cap: float) -> str:
    return f"> {cap:g} s (stopped)" if seconds is None else f"{seconds:.4f} s"


def glob_cases(cap: float) -> list[dict[str, Any]]:
    from revisor.config import ReviewSettings
    from revisor.review.policy import build_policy, ignore_spec

    rows: list[dict[str, Any]] = []
    stopped = False  # once a case passes the cap, the bigger ones would too: not run
    for k, name in GLOB_CASES:
        pattern = "*a" * k + "*b"
        path = DEEP + name
        before = None
        if not stopped:
            before = _child(
                "import time, pathspec\n"
                f"spec = pathspec.GitIgnoreSpec.from_lines([{pattern!r}], backend='simple')\n"
                "t = time.perf_counter()\n"
                f"assert not spec.check_file({path!r}).include\n"
                "print(time.perf_counter() - t)\n",
                cap,
            )
            stopped = before is None
            shown = _fmt(before, cap)
        else:
            shown = "not run (a smaller case passed the cap)"
        policy = build_policy(ReviewSettings(), f"ignore = ['{pattern}']\n")
        assert policy.ignore == (pattern,), policy.warnings
        spec = ignore_spec(policy)
        assert spec is not None
        after, result = _timed(lambda spec=spec, path=path: spec.check_file(path).include)
        assert result is None or result is False
        assert spec.check_file(path + "b").include  # and a matching name does match
        rows.append(
            {
                "pattern": f"'*a' x {k} + '*b' ({len(pattern)} chars)",
                "path": f"500 dirs + {len(name)}-char name",
                "before (re)": shown,
                "after (RE2)": f"{after:.6f} s",
            }
        )
        print(rows[-1], flush=True)
    return rows


def line_cases(cap: float) -> list[dict[str, Any]]:
    from revisor.review.redact import redact_line

    rows: list[dict[str, Any]] = []
    for label, line in LINE_CASES.items():
        before = _child(
            "import time\n"
            "from bench.pathological import LINE_CASES\n"
            "from tests.review.redact_reference import redact_line\n"
            f"line = LINE_CASES[{label!r}]\n"
            "t = time.perf_counter(); redact_line(line); print(time.perf_counter() - t)\n",
            cap,
        )
        after, result = _timed(lambda line=line: redact_line(line))
        text, kinds = result  # type: ignore[misc]
        if "real OpenAI key" in label:
            assert kinds == ("OpenAI key",)
            assert text == "k [REDACTED OpenAI key]"
        rows.append(
            {
                "line (200 KB)": label,
                "before (re)": _fmt(before, cap),
                "after (RE2)": f"{after:.4f} s",
                "before / after": "-" if before is None else f"{before / after:,.0f}x",
            }
        )
        print(rows[-1], flush=True)
    return rows


OLD_COMMAND = r"^\s*/revisor\s+review\b"  # forges/hooks.COMMAND_RE before
NOTES = {  # comments any MR commenter can post; GitLab waits 10 s for the webhook's answer
    "40,000 newlines": "\n" * 40_000,
    "200,000 newlines": "\n" * 200_000,
    "1,000,000 newlines (GitLab's note limit)": "\n" * 1_000_000,
}


def note_cases(cap: float) -> list[dict[str, Any]]:
    from revisor.forges.hooks import COMMAND_RE

    rows: list[dict[str, Any]] = []
    stopped = False
    for label, note in NOTES.items():
        before = None
        if not stopped:
            before = _child(
                "import re, time\n"
                "from bench.pathological import NOTES, OLD_COMMAND\n"
                "pattern = re.compile(OLD_COMMAND, re.IGNORECASE | re.MULTILINE)\n"
                f"note = NOTES[{label!r}]\n"
                "t = time.perf_counter(); assert not pattern.search(note)\n"
                "print(time.perf_counter() - t)\n",
                cap,
            )
            stopped = before is None
            shown = _fmt(before, cap)
        else:
            shown = "not run (a smaller case passed the cap)"
        after, found = _timed(lambda note=note: COMMAND_RE.search(note))
        assert found is None
        rows.append(
            {"comment": label, "before (re, \\s*)": shown, "after (one line)": f"{after:.4f} s"}
        )
        print(rows[-1], flush=True)
    return rows


def _best(fn: Callable[[], object], tries: int = 3) -> float:
    return min(_timed(fn)[0] for _ in range(tries))


def scaling() -> list[dict[str, Any]]:
    """The new code on growing inputs: time per input size should stay flat (linear)."""
    from revisor.config import ReviewSettings
    from revisor.review.policy import build_policy, ignore_spec
    from revisor.review.redact import redact_line

    rows: list[dict[str, Any]] = []
    for size in (100_000, 200_000, 400_000, 800_000):
        line = "T3BlbkFJ " + "sk-" * (size // 3)
        seconds = _best(lambda line=line: redact_line(line))
        rows.append(
            {
                "input": f"'sk-' line, {size:,} chars",
                "seconds (best of 3)": f"{seconds:.5f}",
                "µs per KB": round(seconds * 1e6 / (size / 1000), 2),
            }
        )
    spec = ignore_spec(build_policy(ReviewSettings(), "ignore = ['" + "*a" * 140 + "*b']\n"))
    assert spec is not None
    for name in (1_000, 4_000, 16_000, 64_000):
        path = DEEP + "a" * name + "c"
        seconds = _best(lambda path=path: spec.check_file(path))
        rows.append(
            {
                "input": f"path of {len(path):,} chars vs '*a' x 140 + '*b'",
                "seconds (best of 3)": f"{seconds:.6f}",
                "µs per KB": round(seconds * 1e6 / (len(path) / 1000), 2),
            }
        )
    return rows


def mr_text(cap: float) -> dict[str, Any]:
    """A 1 MB description: read whole before; cut to what the prompt shows, then read, after."""
    from revisor.review.prompt import MAX_DESCRIPTION_CHARS
    from revisor.review.redact import redact_text

    before = _child(
        "import time\n"
        "from bench.pathological import DESCRIPTION\n"
        "from tests.review.redact_reference import redact_line\n"
        "t = time.perf_counter()\n"
        "[redact_line(line) for line in DESCRIPTION.split('\\n')]\n"
        "print(time.perf_counter() - t)\n",
        cap,
    )
    whole = _best(lambda: redact_text(DESCRIPTION))
    capped = _best(lambda: redact_text(DESCRIPTION, max_chars=MAX_DESCRIPTION_CHARS))
    return {
        "description": f"{len(DESCRIPTION):,} chars: 33 lines of 'sk-' x 10,000",
        "before: backtracking re on the whole text": _fmt(before, cap),
        "RE2 on the whole text": f"{whole:.4f} s",
        "after: RE2 on what the prompt shows": f"{capped:.5f} s",
    }


def _markdown(report: dict[str, Any], cap: float) -> str:
    def table(rows: list[dict[str, Any]]) -> list[str]:
        cols = list(rows[0])
        out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        return out + ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]

    lines = [
        "# Pathological inputs: backtracking `re` (before) vs RE2 (after)",
        "",
        f"`python -m bench.pathological`, {report['date']}, commit `{report['commit']}`; "
        f"each 'before' case in a child process, stopped after {cap:g} s (globs) or "
        f"{max(cap, LINE_CAP):g} s (lines). "
        "Every case also checks the answer.",
        "",
        "## Ignore globs from `.revisor.toml` (one pattern, one path)",
        "",
        *table(report["globs"]),
        "",
        "## Redaction of one 200 KB diff line",
        "",
        *table(report["lines"]),
        "",
        "## Linear growth of the new code",
        "",
        *table(report["scaling"]),
        "",
        "## MR description",
        "",
        *table([{"figure": k, "value": v} for k, v in report["mr_text"].items()]),
        "",
        "## `/revisor review` in a comment (forges/hooks.COMMAND_RE)",
        "",
        *table(report["notes"]),
        "",
    ]
    return "\n".join(lines)


def run(cap: float = DEFAULT_CAP) -> dict[str, Any]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
        "globs": glob_cases(cap),
        "lines": line_cases(max(cap, LINE_CAP)),
        "scaling": scaling(),
        "mr_text": mr_text(max(cap, LINE_CAP)),
        "notes": note_cases(max(cap, LINE_CAP)),
    }
    openai = report["lines"][0]
    report["ratios"] = {"OpenAI 200 KB line, before / after": openai["before / after"]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pathological.md").write_text(_markdown(report, cap))
    return report


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=DEFAULT_CAP)
    args = parser.parse_args()
    report = run(args.cap)
    print(f"wrote {RESULTS / 'pathological.md'}")
    return report


if __name__ == "__main__":
    main()
