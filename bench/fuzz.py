"""Coverage-guided fuzzing of the three parsers that read untrusted text, with atheris (libFuzzer).

    .venv/bin/python -m bench.fuzz [--seconds 60] [--only webhook,diff,output]

Targets (each called with raw bytes, no HTTP, no database):

- `webhook`: bytes = "name: value" header lines, a blank line, then the body. Runs
  `delivery_key` (both forges), `verify_gitea_signature`, `verify_gitlab_signature` (plain and
  `whsec_` secret), `verify_gitlab_token`, then `parse_json` and both classifiers.
- `diff`: the text to `parse_unified` and to `parse_hunks`, then walks every file's lines.
- `output`: a model answer, optionally followed by `SEPARATOR` and a diff to anchor onto (a
  fixed small diff otherwise); `parse_output`, then `anchor` on what it found.

The contract under test: each function returns, or raises only its documented error —
`PayloadError` from `parse_json`/`classify_*`, `ValueError` from the diff parsers,
`OutputInvalid` from `parse_output`; `delivery_key`, the `verify_*` helpers and `anchor` raise
nothing. Anything else is a finding: the harness records the input and traceback under
`bench/results/fuzz/` (once per distinct exception site) and keeps fuzzing. An input that runs
longer than 1 s is a finding too: libFuzzer's `-timeout=1` stops the target and writes the input
there as `<target>-timeout-<sha1>`.

Seeds are realistic inputs (the webhook payloads of `tests/webhook_payloads.py`, small git
diffs, model answers shaped like those in `tests/review/`), so mutation starts from what the
parsers really see. Each target runs in its own process, because libFuzzer ends the process when
its time is up. The working corpus lives in a temporary directory (not committed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "fuzz"
TARGETS = ("webhook", "diff", "output")
SEPARATOR = b"\n\x00DIFF\x00\n"
SECRET = "fuzz-webhook-secret-0123"  # noqa: S105 - signs the seeds, protects nothing
NOW = 1_767_000_000  # the "current time" handed to verify_gitlab_signature; seeds are signed at it
FINDING = "FUZZ-FINDING "

# --- the targets (run inside the fuzzing process, after the revisor modules are instrumented) --

_seen_findings: set[str] = set()


def _split_http(data: bytes) -> tuple[dict[str, str], bytes]:
    """Header block and body. Header values are latin-1, as an ASGI server hands them over."""
    head, sep, body = data.partition(b"\n\n")
    if not sep:
        return {}, data
    headers: dict[str, str] = {}
    for line in head.split(b"\n"):
        name, colon, value = line.partition(b":")
        if colon:
            headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return headers, body


def check_webhook(data: bytes) -> None:
    from revisor.domain import ForgeKind
    from revisor.forges import hooks as wh
    from revisor.forges import hooks_for
    from revisor.forges.gitea import hooks as gitea
    from revisor.forges.gitlab import hooks as gitlab

    headers, body = _split_http(data)
    for forge in ForgeKind:
        for signed_id in (False, True):
            key = hooks_for(forge).delivery_key(headers, body, signed=signed_id)
            assert key.startswith(forge.value + ":"), key
    gitea.verify_signature(headers, body, SECRET)
    for secret in (SECRET, "whsec_ZnV6ei13ZWJob29rLXNlY3JldA=="):
        gitlab.verify_signature(headers, body, secret, now=NOW, tolerance=300)
    gitlab.verify_token(headers.get("x-gitlab-token"), SECRET)
    try:
        payload = wh.parse_json(body)
    except wh.PayloadError:
        return
    for forge in ForgeKind:
        hooks = hooks_for(forge)
        try:
            result = hooks.classify(hooks.event(headers), payload)
        except wh.PayloadError:
            continue
        assert isinstance(result, wh.Trigger | wh.Ignored), result


def check_diff(data: bytes) -> None:
    from revisor.text.diff import parse_hunks, parse_unified

    text = data.decode("utf-8", "surrogateescape")
    try:
        for file in parse_unified(text):
            file.lines()
    except ValueError:
        pass
    with contextlib.suppress(ValueError):
        parse_hunks(text)


def check_output(data: bytes) -> None:
    from revisor.errors import OutputInvalid
    from revisor.review.anchor import anchor
    from revisor.review.parse import parse_output
    from revisor.text.diff import parse_unified

    answer, sep, diff = data.partition(SEPARATOR)
    files = None
    if sep:
        try:
            files = parse_unified(diff.decode("utf-8", "surrogateescape"))
        except ValueError:
            files = None
    if files is None:
        files = parse_unified(SMALL_DIFF)
    try:
        outcome = parse_output(answer.decode("utf-8", "surrogateescape"))
    except OutputInvalid:
        return
    anchored = anchor(outcome.findings, files)
    assert len(anchored.findings) + anchored.dropped == len(outcome.findings), anchored


CHECKS: dict[str, Callable[[bytes], None]] = {
    "webhook": check_webhook,
    "diff": check_diff,
    "output": check_output,
}


def _guarded(name: str, out_dir: Path) -> Callable[[bytes], None]:
    """The check; an undocumented exception is recorded (once per site) and the run goes on."""
    check = CHECKS[name]

    def run(data: bytes) -> None:
        try:
            check(data)
        except Exception as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            site = frames[-1] if frames else None
            signature = f"{type(exc).__name__}@{site.filename}:{site.lineno}" if site else ""
            if signature in _seen_findings:
                return
            _seen_findings.add(signature)
            digest = hashlib.sha1(data).hexdigest()  # noqa: S324 - a file name, not security
            stem = out_dir / f"{name}-crash-{digest[:12]}"
            out_dir.mkdir(parents=True, exist_ok=True)
            stem.with_suffix(".bin").write_bytes(data)
            stem.with_suffix(".txt").write_text(
                f"{signature}\n\n" + "".join(traceback.format_exception(exc)), encoding="utf-8"
            )
            record = {"signature": signature, "error": f"{type(exc).__name__}: {exc}"[:300]}
            print(FINDING + json.dumps({**record, "input": str(stem.with_suffix(".bin"))}))
            sys.stdout.flush()

    return run


# --- seeds -----------------------------------------------------------------------------------

SMALL_DIFF = """diff --git a/src/app.py b/src/app.py
index 3b18e51..a2c4f0d 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,5 +1,6 @@ import os
 import os
-import sys
+import subprocess
+import sys

 def run(cmd):
-    return os.system(cmd)
+    return subprocess.run(cmd, shell=True)
"""

_DIFF_SEEDS = [
    SMALL_DIFF,
    """diff --git a/new.txt b/new.txt
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/new.txt
@@ -0,0 +1,2 @@
+hello
+world
\\ No newline at end of file
""",
    """diff --git a/old.c b/old.c
deleted file mode 100644
--- a/old.c
+++ /dev/null
@@ -1,3 +0,0 @@
-int main(void) {
-    return 0;
-}
""",
    """diff --git a/a.txt b/b.txt
similarity index 90%
rename from a.txt
rename to b.txt
--- a/a.txt
+++ b/b.txt
@@ -3 +3 @@ section
-old
+new
diff --git a/logo.png b/logo.png
Binary files a/logo.png and b/logo.png differ
diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"
old mode 100644
new mode 100755
""",
    """From 1234 Mon Sep 17 00:00:00 2001
Subject: [PATCH] fix

--- a/x.py\t2024-01-01
+++ b/x.py\t2024-01-02
@@ -10,4 +10,4 @@ def f():
     a = 1\r
-    b = 2\r
+    b = 3\r
     return a + b\r
 \r
--\x20
2.43.0
""",
    "@@ -1,2 +1,3 @@\n context\n-removed\n+added\n+-- not a header\n@@ -20 +21,0 @@\n-gone\n",
]

_OUTPUT_SEEDS = [
    '{"findings": [{"path": "src/app.py", "line": 8, "side": "new", "severity": "major", '
    '"title": "Shell injection", "body": "shell=True with user input.", '
    '"suggestion": "    return subprocess.run(cmd)"}]}',
    'Sure! Here is my review:\n```json\n{"findings": [{"path": "b/src/app.py", "line": "L3", '
    '"severity": "high", "title": "Unused import", "body": "x",},]}\n```\nHope this helps.',
    '{"findings": [{"path": "app.py", "line": 2, "severity": "minor", "title": "a", "body": "b"}, '
    '{"path": "src/app.py", "line": 7, "severity": "crit',
    "{'findings': [{'path': 'src/app.py', 'line': 2, 'side': 'old', 'severity': 'nit', "
    "'title': 'sys removed', 'body': 'ok', 'suggestion': None}]}",
    '[{"file": "src/app.py", "line_number": 4.0, "severity": "info", "message": "Note. more"}]',
    '{"path": "src/app.py", "line": 99, "severity": "warning", "title": "far away"}',
    '{"findings": null}',
    'I found no problems {at all}. {"comments": []}',
]


def _webhook_seeds() -> list[bytes]:
    from tests import webhook_payloads as wp

    from revisor.forges.gitea.hooks import sign as sign_gitea
    from revisor.forges.gitlab.hooks import sign as sign_gitlab

    def http(headers: dict[str, str], body: bytes) -> bytes:
        head = "\n".join(f"{k}: {v}" for k, v in headers.items())
        return head.encode("latin-1") + b"\n\n" + body

    out: list[bytes] = []
    for payload in (
        wp.gitlab_mr(),
        wp.gitlab_mr(action="update", oldrev=wp.OLDREV),
        wp.gitlab_mr(action=None, draft=True),
        wp.gitlab_note(),
    ):
        body = wp.body_of(payload)
        event = "Note Hook" if payload["object_kind"] == "note" else "Merge Request Hook"
        out.append(http(wp.gitlab_headers(SECRET, event=event, uuid_="u-1"), body))
        ts = str(NOW)
        signed = {
            "x-gitlab-event": event,
            "idempotency-key": "wh-1",
            "webhook-id": "wh-1",
            "webhook-timestamp": ts,
            "webhook-signature": sign_gitlab(SECRET, "wh-1", ts, body) + " v2,abc",
        }
        out.append(http(signed, body))
    for payload, event in (
        (wp.gitea_pr(), "pull_request"),
        (wp.gitea_pr(action="synchronized", title="WIP: x"), "pull_request"),
        (wp.gitea_comment(), "issue_comment"),
    ):
        body = wp.body_of(payload)
        headers = {
            "x-gitea-event": event,
            "x-forgejo-event": event,
            "x-gitea-delivery": "d-1",
            "x-forgejo-signature": sign_gitea(SECRET, body).upper(),
        }
        out.append(http(headers, body))
    out.append(b'{"object_kind": "push"}')
    # Regression inputs of past findings, so every run checks them again.
    overflow = {"webhook-id": "wh-2", "webhook-timestamp": "9" * 400, "webhook-signature": "v1,x"}
    out.append(http(overflow, wp.body_of(wp.gitlab_mr())))
    return out


def seeds(name: str) -> list[bytes]:
    if name == "webhook":
        return _webhook_seeds()
    if name == "diff":
        return [d.encode() for d in _DIFF_SEEDS]
    return [o.encode() for o in _OUTPUT_SEEDS] + [
        _OUTPUT_SEEDS[0].encode() + SEPARATOR + d.encode() for d in _DIFF_SEEDS[:3]
    ]


# --- the fuzzing process ---------------------------------------------------------------------


def _child(name: str, seconds: int, corpus: Path, out_dir: Path, extra: Sequence[str]) -> None:
    """Instrument revisor, then hand over to libFuzzer (which exits the process when done)."""
    import atheris

    with atheris.instrument_imports(include=["revisor"]):
        for module in (
            "revisor.forges.gitlab.hooks",
            "revisor.forges.gitea.hooks",
            "revisor.text.diff",
            "revisor.review.parse",
        ):
            importlib.import_module(module)
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus.mkdir(parents=True, exist_ok=True)
    biggest = 0
    for i, seed in enumerate(seeds(name)):
        (corpus / f"seed-{i}").write_bytes(seed)
        biggest = max(biggest, len(seed))
    args = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={seconds}",
        "-timeout=1",  # one input running > 1 s is a finding (written as <target>-timeout-*)
        f"-max_len={max(4096, 2 * biggest)}",
        "-print_final_stats=1",
        f"-artifact_prefix={out_dir}/{name}-",
        *extra,
    ]
    atheris.Setup(args, _guarded(name, out_dir))
    atheris.Fuzz()


_STATS_RE = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)")
_EXEC_S_RE = re.compile(r"exec/s: (\d+)")


def summarise(name: str, output: str, returncode: int, seconds: float) -> dict[str, Any]:
    """libFuzzer's log -> executions, exec/s, coverage gained, findings."""
    execs = 0
    cov_start = cov_end = features_start = features_end = None
    exec_s = None
    for line in output.splitlines():
        match = _STATS_RE.match(line)
        if match:
            execs = int(match.group(1))
            cov, ft = int(match.group(3)), int(match.group(4))
            if match.group(2) == "INITED":
                cov_start, features_start = cov, ft
            cov_end, features_end = cov, ft
            rate = _EXEC_S_RE.search(line)
            if rate:
                exec_s = int(rate.group(1))
        elif line.startswith("stat::number_of_executed_units:"):
            execs = int(line.split(":")[-1])
        elif line.startswith("stat::average_exec_per_sec:"):
            exec_s = int(line.split(":")[-1])
    findings = [
        json.loads(line[len(FINDING) :]) for line in output.splitlines() if line.startswith(FINDING)
    ]
    for line in output.splitlines():
        if "Test unit written to" in line:
            path = line.split("Test unit written to", 1)[1].strip()
            kind = "timeout (> 1 s)" if "timeout-" in path else "libFuzzer artifact"
            findings.append({"signature": kind, "error": _libfuzzer_error(output), "input": path})
    return {
        "executions": execs,
        "exec_per_s": exec_s if exec_s is not None else round(execs / max(seconds, 0.001)),
        "coverage_start": cov_start,
        "coverage_end": cov_end,
        "new_coverage": (cov_end or 0) - (cov_start or 0),
        "new_features": (features_end or 0) - (features_start or 0),
        "crashes": len(findings),
        "findings": findings,
        "exit_code": returncode,
        "seconds": round(seconds, 1),
    }


def _libfuzzer_error(output: str) -> str:
    for line in output.splitlines():
        if "ERROR: libFuzzer" in line or "Uncaught Python exception" in line:
            return line.strip()[:300]
    return ""


def run_target(
    name: str, seconds: int, out_dir: Path = RESULTS, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """Fuzz one target for `seconds` in a child process; returns its summary."""
    import time

    with tempfile.TemporaryDirectory(prefix=f"revisor-fuzz-{name}-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "bench.fuzz",
            "--child",
            name,
            "--seconds",
            str(seconds),
            "--corpus",
            str(Path(tmp) / "corpus"),
            "--out",
            str(out_dir),
            *(f"--libfuzzer={e}" for e in extra),
        ]
        started = time.monotonic()
        proc = subprocess.run(
            cmd,
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=seconds + 120,
            env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"},
        )
    output = proc.stdout + proc.stderr
    summary = summarise(name, output, proc.returncode, time.monotonic() - started)
    if proc.returncode != 0 and not summary["findings"]:
        summary["error"] = output[-2000:]
    return summary


def atheris_missing() -> str | None:
    try:
        import atheris  # noqa: F401 - importable is what we check
    except ImportError as exc:
        return f"atheris is not installed ({exc}); `pip install -e .[bench]` installs it"
    return None


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="per target (default 60)")
    parser.add_argument("--only", default=",".join(TARGETS), help="comma-separated targets")
    parser.add_argument("--out", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--libfuzzer", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.seconds, args.corpus, args.out, args.libfuzzer)
        raise SystemExit(0)  # not reached: libFuzzer exits
    missing = atheris_missing()
    if missing:
        print(f"fuzz: skipped: {missing}")
        return {"status": "skipped", "reason": missing}
    targets = [t for t in args.only.split(",") if t]
    results: dict[str, Any] = {}
    for name in targets:
        if name not in TARGETS:
            raise SystemExit(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
        print(f"fuzz: {name} for {args.seconds} s ...", flush=True)
        r = results[name] = run_target(name, args.seconds, args.out, args.libfuzzer)
        print(
            f"  {name}: {r['executions']} executions, {r['exec_per_s']} exec/s, "
            f"coverage {r['coverage_start']} -> {r['coverage_end']} (+{r['new_coverage']} edges, "
            f"+{r['new_features']} features), {r['crashes']} crash(es)"
        )
        for f in r["findings"]:
            print(f"    FINDING {f['signature']}: {f['error']} -> {f['input']}")
        if "error" in r:
            print(f"    the fuzzer exited with {r['exit_code']}:\n{r['error']}")
    keep = ("executions", "exec_per_s", "coverage_start", "coverage_end", "new_coverage")
    return {
        "seconds_per_target": args.seconds,
        "targets": [
            {"target": name, **{k: r[k] for k in keep}, "crashes": r["crashes"]}
            for name, r in results.items()
        ],
        "findings": [{"target": name, **f} for name, r in results.items() for f in r["findings"]],
    }


if __name__ == "__main__":
    main(sys.argv[1:])
