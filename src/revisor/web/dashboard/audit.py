"""The audit pages: search the trail (htmx in place), and a signed export bundle."""

from __future__ import annotations

import io
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import ValidationException
from litestar.response import Template

from revisor.audit import Event
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import AUDIT, require
from revisor.web.dashboard import audit_view, queries
from revisor.web.dashboard.pages import FormData, page, source, who
from revisor.web.dashboard.paging import paging_from, with_total
from revisor.web.resources import Audit


def _day_range(q: Any) -> tuple[str, str, float | None, float | None, str]:
    """The "from" and "to" days (UTC, both included); an unreadable one is ignored and said."""
    since_s, until_s = q.get("since", "").strip(), q.get("until", "").strip()
    since = until = None
    problem = ""
    try:
        since = _day_start(since_s)
    except ValueError:
        problem, since_s = f"Not a date: {since_s!r}.", ""
    try:
        start = _day_start(until_s)
        until = start + 86400 if start is not None else None
    except ValueError:
        problem, until_s = f"Not a date: {until_s!r}.", ""
    return since_s, until_s, since, until, problem


def _day_start(value: str) -> float | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()


@get("/audit", guards=[require(AUDIT)], sync_to_thread=True, include_in_schema=False)
def audit_page(request: Request[Any, Any, Any], audit: Audit) -> Template:
    q = request.query_params
    since_s, until_s, since, until, problem = _day_range(q)
    filters: dict[str, Any] = {
        "text": q.get("q", "").strip(),
        "event": q.get("event", ""),
        "actor": q.get("actor", "").strip(),
        "since": since,
        "until": until,
    }
    paging = paging_from(
        "/audit",
        q,
        ("seq",),
        keep={
            "q": filters["text"],
            "event": filters["event"],
            "actor": filters["actor"],
            "since": since_s,
            "until": until_s,
        },
    )
    paging = with_total(paging, queries.count_audit(audit.db, **filters))
    records = queries.search_audit(audit.db, **filters, limit=paging.per_page, offset=paging.offset)
    context: dict[str, Any] = {
        "records": records,
        "paging": paging,
        "q": filters["text"],
        "event": filters["event"],
        "actor": filters["actor"],
        "since": since_s,
        "until": until_s,
        "problem": problem,
        "events": [e.value for e in Event],
        "related": audit_view.related,
        "detail_items": audit_view.detail_items,
        "fingerprint": audit_view.signing_fingerprint(audit),
    }
    if request.headers.get("hx-request"):
        return page(request, "_audit_table.html", **context)
    return page(request, "audit.html", **context)


def _parse_day(value: str) -> float | None:
    from revisor.audit.export import parse_time

    return parse_time(value) if value.strip() else None


@post(
    "/audit/export",
    guards=[require(AUDIT), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def audit_export(request: Request[Any, Any, Any], audit: Audit, data: FormData) -> Response[bytes]:
    """A signed export bundle (tar.gz) that `revisor audit verify` checks offline."""
    from revisor.audit.export import ExportError, export_audit

    actor = who(request).actor
    try:
        since, until = _parse_day(data.get("since", "")), _parse_day(data.get("until", ""))
    except ExportError as exc:
        raise ValidationException(str(exc)) from None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bundle"
        try:
            result = export_audit(
                audit,
                out,
                since=since,
                until=until,
                formats=("jsonl",),
                actor=actor,
                source=source(request),
            )
        except ExportError as exc:
            raise ValidationException(str(exc)) from None
        name = f"revisor-audit-{result.first_seq}-{result.last_seq}"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for file in result.files:
                tar.add(out / file, arcname=f"{name}/{file}")
    return Response(
        buf.getvalue(),
        media_type="application/gzip",
        headers={"content-disposition": f'attachment; filename="{name}.tar.gz"'},
    )


routes = [audit_page, audit_export]
