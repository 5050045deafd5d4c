"""The audit pages: search the trail (htmx in place), and a signed export bundle."""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import ValidationException
from litestar.response import Template

from revisor.audit import Event
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import AUDIT, require
from revisor.web.dashboard import queries
from revisor.web.dashboard.pages import FormData, fmt_time, page, source, who
from revisor.web.resources import Audit


@get("/audit", guards=[require(AUDIT)], sync_to_thread=True, include_in_schema=False)
def audit_page(request: Request[Any, Any, Any], audit: Audit) -> Template:
    q = request.query_params
    records = queries.search_audit(
        audit.db,
        text=q.get("q", ""),
        event=q.get("event", ""),
        actor=q.get("actor", ""),
    )
    context: dict[str, Any] = {
        "records": records,
        "q": q.get("q", ""),
        "event": q.get("event", ""),
        "actor": q.get("actor", ""),
        "events": [e.value for e in Event],
        "fmt_time": fmt_time,
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
