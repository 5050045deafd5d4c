"""What a review may do for one repository: admin defaults, tightened by the repository.

The admin's `[review]` section of `revisor.toml` (`ReviewSettings`) sets the defaults. A
repository may add a `.revisor.toml` on its target branch, but the file is written by whoever can
push there, so it is treated as untrusted input:

- only the allow-listed keys `enabled`, `ignore`, `extra_instructions` (or its alias
  `instructions`), `path_instructions`, `min_severity` and `max_comments` are read (top level,
  or under a `[review]` table); everything else is listed in `Policy.ignored_keys` and shown in
  the summary;
- it can only tighten: `min_severity` can be raised, `max_comments` lowered, `ignore` extended,
  `enabled` turned off. It can never change the system prompt, the model or the endpoints,
  because nothing here can express them;
- `extra_instructions`/`instructions` and the `[[path_instructions]]` tables (`{path = "<glob>",
  instructions = "..."}`: guidance for the files a glob matches) are capped and later shown to
  the model as repository guidance inside a delimited block (`review.guidance`), never as part
  of the system prompt; at most `MAX_PATH_INSTRUCTIONS` tables, each glob at most
  `MAX_PATTERN_LENGTH` characters and matched in linear time, each text at most
  `MAX_PATH_INSTRUCTION_CHARS` characters (over a cap: a warning, the rest is used);
- a broken file never blocks a review: the problem becomes a warning in the summary and the
  admin defaults apply;
- the work an ignore list can cause is bounded: at most `MAX_IGNORE_PATTERNS` patterns of at
  most `MAX_PATTERN_LENGTH` characters, matched in linear time by RE2 (`ignore_spec`). A list
  over a cap, or too big for the matcher, is not applied at all, and the summary says why.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from dataclasses import dataclass
from typing import Any

import pathspec

from revisor.config import ReviewSettings
from revisor.domain import Severity
from revisor.review.linear import compile_globs

__all__ = [
    "MAX_EXTRA_INSTRUCTIONS",
    "MAX_IGNORE_PATTERNS",
    "MAX_PATH_INSTRUCTIONS",
    "MAX_PATH_INSTRUCTION_CHARS",
    "MAX_PATTERN_LENGTH",
    "PathInstruction",
    "Policy",
    "build_policy",
    "ignore_spec",
    "path_spec",
]

MAX_EXTRA_INSTRUCTIONS = 2000  # characters; enough for a few rules, small next to the diff budget
MAX_IGNORE_PATTERNS = 200
MAX_PATTERN_LENGTH = 300
MAX_REPO_TOML_CHARS = 64_000
MAX_PATH_INSTRUCTIONS = 50
MAX_PATH_INSTRUCTION_CHARS = 1000
INSTRUCTION_KEYS = ("extra_instructions", "instructions")  # the second is an alias
ALLOWED_KEYS = frozenset(
    {*INSTRUCTION_KEYS, "enabled", "ignore", "path_instructions", "min_severity", "max_comments"}
)


@dataclass(frozen=True)
class PathInstruction:
    """Guidance for the files matching `path` (a gitignore-style glob), from `origin`
    ("revisor.toml": the administrator; ".revisor.toml": the repository)."""

    path: str
    instructions: str
    origin: str


@dataclass(frozen=True)
class Policy:
    """The effective rules for one review. Build it with `build_policy`."""

    enabled: bool = True
    ignore: tuple[str, ...] = ()
    extra_instructions: str = ""
    path_instructions: tuple[PathInstruction, ...] = ()
    min_severity: Severity = Severity.MINOR
    max_comments: int = 25
    max_file_bytes: int = 200_000
    max_files: int = 300
    # Admin-only stages of the review pipeline (config.ReviewSettings turns them on; a bare
    # Policy() is the single pass over the diff)
    widen_context: bool = False
    verify: bool = False
    analyzers: bool = False
    guidance_files: bool = False
    # What was in `.revisor.toml` but not applied, and why; shown in the review summary.
    ignored_keys: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def build_policy(defaults: ReviewSettings, repo_toml: str | None = None) -> Policy:
    """Combine admin defaults with a repository's `.revisor.toml` text (None: no such file)."""
    warnings: list[str] = []
    base_severity = _admin_severity(defaults.min_severity, warnings)
    policy = Policy(
        enabled=True,
        ignore=_valid_patterns(defaults.ignore, "revisor.toml", warnings),
        extra_instructions=defaults.extra_instructions[:MAX_EXTRA_INSTRUCTIONS],
        path_instructions=_path_instructions(defaults.path_instructions, "revisor.toml", warnings),
        min_severity=base_severity,
        max_comments=max(0, defaults.max_comments),
        max_file_bytes=defaults.max_file_bytes,
        max_files=defaults.max_files,
        widen_context=defaults.widen_context,
        verify=defaults.verify,
        analyzers=defaults.analyzers,
        guidance_files=defaults.guidance_files,
    )
    if repo_toml is None or not repo_toml.strip():
        return dataclasses.replace(policy, warnings=tuple(warnings))
    table = _load(repo_toml, warnings)
    if table is None:
        return dataclasses.replace(policy, warnings=tuple(warnings))

    ignored = sorted(key for key in table if key not in ALLOWED_KEYS)
    changes: dict[str, Any] = {}

    if "enabled" in table:
        if isinstance(table["enabled"], bool):
            changes["enabled"] = table["enabled"]
        else:
            warnings.append(".revisor.toml: 'enabled' must be true or false; ignored")
    if "ignore" in table:
        value = table["ignore"]
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            extra = _valid_patterns(tuple(value), ".revisor.toml", warnings)
            changes["ignore"] = _combined(policy.ignore, extra, warnings)
        else:
            warnings.append(".revisor.toml: 'ignore' must be a list of path patterns; ignored")
    repo_text = _instructions(table, warnings)
    if repo_text:
        joined = "\n\n".join(t for t in (policy.extra_instructions, repo_text) if t)
        changes["extra_instructions"] = joined[: 2 * MAX_EXTRA_INSTRUCTIONS]
    if "path_instructions" in table:
        repo_paths = _path_instructions(table["path_instructions"], ".revisor.toml", warnings)
        changes["path_instructions"] = policy.path_instructions + repo_paths
    if "min_severity" in table:
        value = table["min_severity"]
        try:
            wanted = Severity.parse(value) if isinstance(value, str) else None
        except ValueError:
            wanted = None
        if wanted is None:
            warnings.append(
                ".revisor.toml: 'min_severity' must be one of info, minor, major, critical; ignored"
            )
        elif wanted < base_severity:
            warnings.append(
                f".revisor.toml: min_severity {wanted.label!r} is below the administrator's "
                f"{base_severity.label!r}; kept {base_severity.label!r}"
            )
        else:
            changes["min_severity"] = wanted
    if "max_comments" in table:
        value = table["max_comments"]
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            if value > policy.max_comments:
                warnings.append(
                    f".revisor.toml: max_comments {value} is above the administrator's "
                    f"{policy.max_comments}; kept {policy.max_comments}"
                )
            else:
                changes["max_comments"] = value
        else:
            warnings.append(".revisor.toml: 'max_comments' must be a whole number >= 0; ignored")

    return dataclasses.replace(
        policy, ignored_keys=tuple(ignored), warnings=tuple(warnings), **changes
    )


def _instructions(table: dict[str, Any], warnings: list[str]) -> str:
    """The repository's `extra_instructions` and `instructions` (its alias), together capped at
    MAX_EXTRA_INSTRUCTIONS characters."""
    texts: list[str] = []
    for key in INSTRUCTION_KEYS:
        if key not in table:
            continue
        if isinstance(table[key], str):
            texts.append(table[key].strip())
        else:
            warnings.append(f".revisor.toml: '{key}' must be a string; ignored")
    text = "\n\n".join(t for t in texts if t)
    if len(text) > MAX_EXTRA_INSTRUCTIONS:
        warnings.append(f".revisor.toml: 'instructions' cut to {MAX_EXTRA_INSTRUCTIONS} characters")
    return text[:MAX_EXTRA_INSTRUCTIONS].strip()


def _path_instructions(value: Any, origin: str, warnings: list[str]) -> tuple[PathInstruction, ...]:
    """The usable `[[path_instructions]]` tables: the first MAX_PATH_INSTRUCTIONS, each with a
    glob the linear-time matcher takes, its text cut to MAX_PATH_INSTRUCTION_CHARS."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list | tuple):
        warnings.append(
            f"{origin}: 'path_instructions' must be tables of path and instructions; ignored"
        )
        return ()
    if len(value) > MAX_PATH_INSTRUCTIONS:
        warnings.append(
            f"{origin}: {len(value)} path_instructions, over the limit of "
            f"{MAX_PATH_INSTRUCTIONS}; only the first {MAX_PATH_INSTRUCTIONS} are used"
        )
    kept: list[PathInstruction] = []
    for number, entry in enumerate(value[:MAX_PATH_INSTRUCTIONS], 1):
        found = _path_instruction(entry, f"{origin}: path_instructions number {number}", warnings)
        if found is not None:
            kept.append(PathInstruction(found[0], found[1], origin))
    return tuple(kept)


def _path_instruction(entry: Any, where: str, warnings: list[str]) -> tuple[str, str] | None:
    """(glob, text) of one table, or None (with a warning) when it cannot be used."""
    glob = entry.get("path") if isinstance(entry, dict) else None
    text = entry.get("instructions") if isinstance(entry, dict) else None
    if (
        not isinstance(glob, str)
        or not isinstance(text, str)
        or not (glob.strip() and text.strip())
    ):
        warnings.append(f"{where} needs a 'path' glob and an 'instructions' text; skipped")
        return None
    if extra := sorted(set(entry) - {"path", "instructions"}):
        warnings.append(f"{where}: keys {', '.join(map(repr, extra))} ignored")
    glob = glob.strip()
    if len(glob) > MAX_PATTERN_LENGTH:
        warnings.append(
            f"{where}: the path is {len(glob)} characters long, over the limit of "
            f"{MAX_PATTERN_LENGTH}; skipped"
        )
        return None
    try:
        path_spec(glob)
    except ValueError as exc:
        warnings.append(f"{where}: invalid path {glob!r} ({exc}); skipped")
        return None
    if len(text) > MAX_PATH_INSTRUCTION_CHARS:
        warnings.append(f"{where}: instructions cut to {MAX_PATH_INSTRUCTION_CHARS} characters")
    return glob, text[:MAX_PATH_INSTRUCTION_CHARS].strip()


@functools.lru_cache(maxsize=4 * MAX_PATH_INSTRUCTIONS)
def path_spec(glob: str) -> pathspec.GitIgnoreSpec:
    """One path instruction's glob, compiled for linear-time matching (`build_policy` has
    checked that it compiles; raises `ValueError` for one that does not)."""
    return compile_globs([glob])


def _admin_severity(value: str, warnings: list[str]) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as exc:
        warnings.append(f"revisor.toml: review.min_severity: {exc}; using 'minor'")
        return Severity.MINOR


def _load(text: str, warnings: list[str]) -> dict[str, Any] | None:
    if len(text) > MAX_REPO_TOML_CHARS:
        warnings.append(f".revisor.toml is larger than {MAX_REPO_TOML_CHARS} characters; ignored")
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        warnings.append(f".revisor.toml is not valid TOML ({exc}); ignored")
        return None
    review = data.get("review")
    if isinstance(review, dict):
        # Accept `[review]` as well as top-level keys; top-level wins on conflict.
        merged = {k: v for k, v in data.items() if k != "review"}
        return {**review, **merged}
    return data


def ignore_spec(policy: Policy) -> pathspec.GitIgnoreSpec | None:
    """The policy's ignore patterns, compiled once for linear-time matching (None: no patterns).

    `build_policy` has already checked that they compile, so this does not raise for a policy
    it built.
    """
    return _compiled(policy.ignore) if policy.ignore else None


# Small: a compiled set near RE2's limit holds megabytes, and compiling one takes milliseconds.
@functools.lru_cache(maxsize=16)
def _compiled(patterns: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return compile_globs(patterns)


def _valid_patterns(patterns: tuple[str, ...], origin: str, warnings: list[str]) -> tuple[str, ...]:
    """The usable patterns of one list; a list over a cap is refused whole, with a warning."""
    cleaned = [p.strip() for p in patterns]
    cleaned = [p for p in cleaned if p and not p.startswith("#")]
    if len(cleaned) > MAX_IGNORE_PATTERNS:
        warnings.append(
            f"{origin}: 'ignore' has {len(cleaned)} patterns, over the limit of "
            f"{MAX_IGNORE_PATTERNS}; none of them is applied"
        )
        return ()
    too_long = [i for i, p in enumerate(cleaned, 1) if len(p) > MAX_PATTERN_LENGTH]
    if too_long:
        warnings.append(
            f"{origin}: ignore pattern number {too_long[0]} is {len(cleaned[too_long[0] - 1])} "
            f"characters long, over the limit of {MAX_PATTERN_LENGTH}; none of the "
            "patterns is applied"
        )
        return ()
    kept: list[str] = []
    for pattern in cleaned:
        try:
            compile_globs([pattern])
        except ValueError as exc:
            warnings.append(f"{origin}: invalid ignore pattern {pattern!r} ({exc}); skipped")
            continue
        kept.append(pattern)
    return _combined((), tuple(kept), warnings, origin)


def _combined(
    base: tuple[str, ...],
    extra: tuple[str, ...],
    warnings: list[str],
    origin: str = ".revisor.toml",
) -> tuple[str, ...]:
    """`base + extra` if the matcher can hold them all; otherwise `base`, with a warning."""
    if not extra:
        return base
    try:
        _compiled(base + extra)
    except ValueError as exc:
        warnings.append(
            f"{origin}: the ignore patterns are {exc}; none of the {len(extra)} patterns is applied"
        )
        return base
    return base + extra
