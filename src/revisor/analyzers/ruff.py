"""ruff's security and bug rules over the Python files of a revision.

`--isolated` ignores every configuration file (a repository's `pyproject.toml` or `ruff.toml`
cannot turn a rule off or on), `--no-cache` writes nothing, `--target-version` is fixed, and the
rules are ours: `SELECT` below, minus `IGNORE`. Preview rules are never on, so a ruff upgrade
adds only rules that have become stable in the families we chose.
"""

from __future__ import annotations

import json
from pathlib import Path

from revisor.analyzers.workspace import Workspace
from revisor.domain import AnalyzerHit, Severity

SOURCE = "ruff"

# Why each family is on. The test for a rule: it flags code that is wrong or unsafe in review,
# not code that is merely unidiomatic.
SELECT = (
    "S",  # flake8-bandit: injection, unsafe deserialisation, TLS off, weak crypto (see IGNORE)
    "B0",  # bugbear: mutable defaults, late-binding closures, return in finally, ... (see IGNORE)
    "F5",  # %-format and str.format calls that fail at run time
    "F6",  # duplicate dict keys, `is` on literals, assert on a tuple (always true)
    "F7",  # break/continue/return/yield where they cannot be
    "F821",  # undefined name: a NameError on that path
    "F822",  # undefined name in __all__
    "F823",  # local variable referenced before assignment
    "E722",  # bare `except:` swallows KeyboardInterrupt and SystemExit
    "DTZ003",  # datetime.utcnow(): a naive datetime read as local time
    "DTZ005",  # datetime.now() without tz: naive, wrong across time zones
    "SIM115",  # open() outside a with block: a file handle leaked on the error path
    "PLE",  # pylint errors: await outside async, logging argument count, bad format chars
    "PLW0127",  # self-assignment: a typo for another name
    "PLW0129",  # assert on a string literal: always true
    "PLW0711",  # `except A or B`: catches only A
    "PLW1508",  # os.getenv default that is not a string
    "PLW1509",  # subprocess preexec_fn: deadlocks with threads
    "PLW1510",  # subprocess.run without check=: a failed command goes unnoticed
    # Blocking calls inside async functions: HTTP (210), subprocess (220-222), open (230),
    # time.sleep (251). Not ASYNC109/115/240 (timeout parameters, sleep(0), os.path): style;
    # ASYNC109 alone fired 9 times on httpx, where timeout parameters are the API.
    "ASYNC210",
    "ASYNC220",
    "ASYNC221",
    "ASYNC222",
    "ASYNC230",
    "ASYNC251",
    "RUF006",  # asyncio.create_task result dropped: the task can be garbage-collected
    "RUF018",  # assignment expression in assert: gone under -O
    "RUF024",  # dict.fromkeys with a mutable value shared by all keys
    "T10",  # a debugger breakpoint left in
)

IGNORE = (
    "S101",  # assert: normal in tests and for type narrowing
    "S104",  # binding 0.0.0.0: a deployment choice, not a bug
    "S105",  # hard-coded password string: fires on names like TOKEN_TYPE = "bearer";
    "S106",  # the redaction check finds real committed secrets
    "S107",
    "S311",  # random for non-crypto uses (shuffles, jitter) is the common, correct case
    "S4",  # imports of pickle/subprocess/xml: the call sites are flagged where they matter
    "S603",  # every subprocess call without shell: noise
    "S606",  # os.spawn* without a shell: noise
    "S607",  # partial executable path: noise
    "B007",  # unused loop variable: style
    "B008",  # function call in a default (FastAPI's Depends): idiom
    "B009",  # getattr with a constant: style
    "B010",  # setattr with a constant: style
    "B011",  # assert False: style
    "B017",  # assertRaises(Exception): tests
    "B024",  # abstract class without abstract methods: style
    "B027",  # empty method in an abstract class: style
    "B028",  # warnings.warn without stacklevel: style
)
# Not selected, after trying: BLE001 (`except Exception` without re-raise or logger.exception)
# fired 16 times on this repository's own src/, every one a deliberate catch-all of a probe or
# a reporter; S110 (`except: pass`) and E722 (bare except) keep the narrow, real cases.

# Test code: fixtures and fakes look like these on purpose (temporary paths, fake keys, requests
# without timeouts, blind excepts); bug rules (B, F, PLE) still run there.
TEST_GLOBS = ("**/tests/**", "**/test/**", "**/test_*.py", "**/*_test.py", "**/conftest.py")
TEST_IGNORE = ("S", "DTZ", "PLW1510", "SIM115", "ASYNC", "T10")

# The severity of a ruff code: the longest matching prefix wins.
SEVERITY = {
    "S": Severity.MAJOR,
    "S102": Severity.CRITICAL,  # exec
    "S307": Severity.CRITICAL,  # eval
    "S301": Severity.CRITICAL,  # pickle loads
    "S506": Severity.CRITICAL,  # yaml.load
    "S60": Severity.CRITICAL,  # shell and SQL injection
    "S61": Severity.CRITICAL,  # Django raw SQL
    "S70": Severity.MAJOR,  # template autoescape off
    "S108": Severity.MINOR,  # predictable temp file
    "S110": Severity.MINOR,  # try/except/pass
    "S112": Severity.MINOR,  # try/except/continue
    "S113": Severity.MINOR,  # request without timeout
    "S324": Severity.MINOR,  # md5/sha1
    "B": Severity.MAJOR,
    "F": Severity.MAJOR,
    "PLE": Severity.MAJOR,
    "RUF006": Severity.MAJOR,
    "E722": Severity.MINOR,
    "DTZ": Severity.MINOR,
    "SIM": Severity.MINOR,
    "PLW": Severity.MINOR,
    "ASYNC": Severity.MINOR,
    "RUF": Severity.MINOR,
    "T10": Severity.MINOR,
}

MAX_MESSAGE_CHARS = 300


def severity_of(code: str) -> Severity:
    best = ""
    for prefix in SEVERITY:
        if code.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return SEVERITY[best] if best else Severity.MINOR


def command(binary: str, root: Path) -> list[str]:
    return [
        binary,
        "check",
        "--no-cache",
        "--isolated",
        "--output-format",
        "json",
        "--target-version",
        "py311",
        "--select",
        ",".join(SELECT),
        "--ignore",
        ",".join(IGNORE),
        *[f"--per-file-ignores={glob}:{code}" for glob in TEST_GLOBS for code in TEST_IGNORE],
        "--exit-zero",
        str(root),
    ]


def parse(stdout: bytes, ws: Workspace) -> tuple[list[AnalyzerHit], list[str]]:
    """ruff's JSON (an array of diagnostics) -> hits; syntax errors (code null) are skipped."""
    try:
        items = json.loads(stdout)
    except (ValueError, UnicodeDecodeError):
        return [], ["ruff: output is not JSON"]
    if not isinstance(items, list):
        return [], ["ruff: output is not a JSON array"]
    hits: list[AnalyzerHit] = []
    unmapped = 0
    for item in items:
        try:
            code = item["code"]
            if code is None:  # a syntax error: not a finding
                continue
            path = ws.repo_path(str(item["filename"]))
            line = int(item["location"]["row"])
            end = int(item["end_location"]["row"])
            message = str(item["message"])[:MAX_MESSAGE_CHARS]
        except (KeyError, TypeError, ValueError):
            return hits, ["ruff: unexpected JSON shape"]
        if path is None:
            unmapped += 1
            continue
        hits.append(
            AnalyzerHit(
                source=SOURCE,
                rule=str(code),
                path=path,
                line=line,
                end_line=max(end, line),
                severity=severity_of(str(code)),
                message=message,
            )
        )
    errors = [f"ruff: {unmapped} hits on paths outside the workspace"] if unmapped else []
    return hits, errors
