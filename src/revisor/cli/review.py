"""`revisor review --diff FILE|-`: review a local diff with the configured or bundled model.

No Git server is involved: this is for evaluating models and for CI pipelines. Progress goes to
stderr on a terminal; `--json` output on stdout stays clean. Exit codes: 0 no finding at or
above `--fail-on`, 1 at least one, 2 error, 3 the review is incomplete (a part of the diff could
not be reviewed) — an incomplete review never passes as a clean one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

from revisor.cli import add_common
from revisor.config import Settings
from revisor.context import Context
from revisor.domain import ChatModel, ReviewResult, Severity, Usage
from revisor.egress import Egress, audit_refusals
from revisor.errors import ConfigError, ModelUnavailable
from revisor.llm.registry import (
    SidecarAt,
    SidecarChoice,
    build_router,
    select_endpoints,
    uses_embedded_model,
)
from revisor.outbound import configured_egress
from revisor.review.engine import review_files
from revisor.review.policy import build_policy
from revisor.store import endpoints
from revisor.text.diff import parse_unified

EXIT_FINDINGS, EXIT_INCOMPLETE = 1, 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("review", help="review a local diff (no Git server needed)")
    add_common(p, json_flag=True)
    p.add_argument("--diff", required=True, help="unified diff file (git diff output), or -")
    p.add_argument(
        "--fail-on",
        default="critical",
        type=Severity.parse,
        help="exit 1 when a finding reaches this severity (info|minor|major|critical)",
    )
    p.add_argument("--model", default=None, help="endpoint id to use (default: routing rules)")
    p.add_argument("--min-severity", default=None, help="report findings from this severity up")
    p.set_defaults(func=cmd_review)


def cmd_review(args: argparse.Namespace, rt: Context) -> int:
    text = sys.stdin.read() if args.diff == "-" else _read(args.diff)
    try:
        files = parse_unified(text)
    except ValueError as exc:
        raise ConfigError(f"{args.diff} is not a unified diff: {exc}") from None
    if not files:
        raise ConfigError("the diff is empty: nothing to review")
    review = rt.settings.review
    if args.min_severity:
        review = replace(review, min_severity=args.min_severity)
    policy = build_policy(review)
    show_progress = sys.stderr.isatty() and not args.json
    started = time.monotonic()

    def progress(done: int, total: int, usage: Usage) -> None:
        if show_progress:
            rate = usage.completion_tokens / max(time.monotonic() - started, 1e-6)
            print(f"\rreviewed {done}/{total} parts, {rate:.0f} tokens/s", end="", file=sys.stderr)

    with _model(rt, args.model) as (model, context):
        result = review_files(
            files,
            mr=None,
            policy=policy,
            model=model,
            context_tokens=context,
            max_output_tokens=rt.settings.model.max_output_tokens,
            on_progress=progress,
        )
    if show_progress:
        print(file=sys.stderr)
    _print(args, result)
    if result.partial:
        print(
            f"revisor: review incomplete: {result.chunks_failed} of {result.chunks_total} parts"
            " could not be reviewed",
            file=sys.stderr,
        )
        return EXIT_INCOMPLETE
    return EXIT_FINDINGS if any(f.severity >= args.fail_on for f in result.findings) else 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


@contextlib.contextmanager
def _model(rt: Context, endpoint: str | None) -> Iterator[tuple[ChatModel, int]]:
    """The configured endpoints, else the bundled model's sidecar."""
    settings = rt.settings
    if endpoint:
        routes = ({"match": {}, "endpoint": endpoint},)
        settings = replace(settings, model=replace(settings.model, routes=routes))
    initialised = settings.db_path.exists() and settings.keys_dir.is_dir()
    registered = endpoints.with_keys(rt.db, rt.keys) if initialised else []
    with contextlib.ExitStack() as stack:
        sidecar: SidecarChoice = "never"
        urls = tuple(e.url for e in settings.model.endpoints)
        if uses_embedded_model(settings, registered):
            url, key = stack.enter_context(_bundled_sidecar(settings, initialised))
            sidecar, urls = SidecarAt(url, key), (url, *urls)
        found = select_endpoints(settings, registered, sidecar=sidecar)
        if initialised:
            refusals = audit_refusals(rt.audit, rt.actor)
            egress = configured_egress(settings, rt.db, on_refusal=refusals, extra_urls=urls)
        else:
            egress = Egress.from_urls(urls)
        router = build_router(settings, found, egress)
        stack.callback(router.close)
        yield router, router.context_for(None)


@contextlib.contextmanager
def _bundled_sidecar(settings: Settings, initialised: bool) -> Iterator[tuple[str, str]]:
    """The sidecar `revisor up` runs, if it answers; else one started for this command (in a
    throwaway directory when there is no data dir)."""
    from revisor.inference.sidecar import API_KEY_FILE, Sidecar, ensure_api_key, wait_healthy

    with contextlib.ExitStack() as stack:
        if not initialised:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="revisor-")))
            (tmp / "keys").mkdir(mode=0o700)
            (tmp / "logs").mkdir(mode=0o700)
            settings = replace(settings, data_dir=tmp)
        m = settings.model
        url = f"http://{m.sidecar_host}:{m.sidecar_port}/v1"
        key = ensure_api_key(settings.keys_dir / API_KEY_FILE)
        try:
            wait_healthy(url, 1.0, api_key=key)
        except ModelUnavailable:
            sidecar = Sidecar.from_settings(settings)
            stack.callback(sidecar.stop)
            if sys.stderr.isatty():
                print(f"starting the bundled model ({sidecar.model_id})...", file=sys.stderr)
            sidecar.start()
            sidecar.wait_healthy(timeout=180)
            url, key = sidecar.base_url, sidecar.api_key
        yield url, key


def _print(args: argparse.Namespace, result: ReviewResult) -> None:
    if args.json:
        data = asdict(result)
        data["findings"] = [{**asdict(f), "severity": f.severity.label} for f in result.findings]
        data["partial"] = result.partial
        print(json.dumps(data, indent=2))
        return
    for f in result.findings:
        line = f.new_line if f.new_line is not None else f.old_line
        print(f"{f.path}:{line}: [{f.severity.label}] {f.title}")
        if f.body:
            print("    " + f.body.replace("\n", "\n    "))
    for s in result.skipped:
        print(f"skipped {s.path}: {s.reason}")
    u = result.usage
    print(
        f"{len(result.findings)} finding(s) in {len(result.reviewed_files)} file(s);"
        f" model {result.model}, prompt {result.prompt_version},"
        f" {u.prompt_tokens}+{u.completion_tokens} tokens, {result.duration_ms} ms"
    )
