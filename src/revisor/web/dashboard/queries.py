"""Read-only queries behind the dashboard and the JSON API. Plain SQL over the store's tables."""

from __future__ import annotations

import json
import math
import re
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from revisor.store import jobs

DAY = 86400.0


def day_label(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%m-%d")


def _days(t: float, days: int) -> list[tuple[str, float, float]]:
    """(label, start, end) for each UTC day, oldest first, the last one being today."""
    today = datetime.fromtimestamp(t, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for i in range(days - 1, -1, -1):
        start = today - timedelta(days=i)
        out.append((start.strftime("%m-%d"), start.timestamp(), start.timestamp() + DAY))
    return out


def overview(db: sqlite_utils.Database, t: float) -> dict[str, Any]:
    all_states = jobs.counts_by_state(db)
    last_day = jobs.counts_by_state(db, since=t - DAY)
    return {
        "queued": all_states["queued"],
        "running": all_states["running"],
        "last_24h": last_day,
        "jobs_24h": sum(last_day.values()),
        "failed_24h": last_day["failed"],
        "recent_failures": [j.public() for j in jobs.list_jobs(db, state="failed", limit=5)],
    }


def reviews_per_day(db: sqlite_utils.Database, t: float, days: int = 14) -> list[tuple[str, float]]:
    out = []
    for label, start, end in _days(t, days):
        n = db.execute(
            "SELECT count(*) FROM jobs WHERE state = 'done'"
            " AND finished_at >= ? AND finished_at < ?",
            [start, end],
        ).fetchone()[0]
        out.append((label, float(n)))
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); values need not be sorted."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def review_time_percentiles(
    db: sqlite_utils.Database, t: float, days: int = 14
) -> tuple[list[str], dict[str, list[float | None]]]:
    """Seconds from the webhook (job created) to the finished review, p50/p90/p99 per day."""
    labels: list[str] = []
    series: dict[str, list[float | None]] = {"p50": [], "p90": [], "p99": []}
    for label, start, end in _days(t, days):
        durations = [
            row[0]
            for row in db.execute(
                "SELECT finished_at - created_at FROM jobs WHERE state = 'done'"
                " AND finished_at >= ? AND finished_at < ?",
                [start, end],
            ).fetchall()
        ]
        labels.append(label)
        for name, q in (("p50", 50), ("p90", 90), ("p99", 99)):
            series[name].append(percentile(durations, q) if durations else None)
    return labels, series


def tokens_per_repo(
    db: sqlite_utils.Database, since: float, limit: int = 12
) -> list[tuple[str, float]]:
    rows = db.execute(
        "SELECT coalesce(r.project, 'repo ' || u.repo_id, 'unknown'),"
        " sum(u.prompt_tokens + u.completion_tokens) AS total"
        " FROM usage u LEFT JOIN repos r ON r.id = u.repo_id WHERE u.created_at >= ?"
        " GROUP BY u.repo_id ORDER BY total DESC LIMIT ?",
        [since, limit],
    ).fetchall()
    return [(str(name), float(total or 0)) for name, total in rows]


def usage_for_job(db: sqlite_utils.Database, job_id: int) -> dict[str, Any]:
    rows = list(
        db.query(
            "SELECT model, endpoint, prompt_tokens, completion_tokens, latency_ms, ok"
            " FROM usage WHERE job_id = ? ORDER BY id",
            [job_id],
        )
    )
    latencies = [float(r["latency_ms"]) for r in rows]
    return {
        "calls": rows,
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "completion_tokens": sum(r["completion_tokens"] for r in rows),
        "latency_ms": sum(latencies),
        "median_latency_ms": statistics.median(latencies) if latencies else None,
        "models": sorted({r["model"] for r in rows}),
    }


def forge_health(db: sqlite_utils.Database, t: float) -> list[dict[str, Any]]:
    """Per Git server: repositories, last webhook, and jobs that failed in the last 24 h.

    Revisor does not poll Git servers (air-gapped, least traffic), so their health is what the
    traffic shows: a server whose webhooks stopped arriving, or whose jobs fail, needs a look.
    """
    rows = db.execute(
        "SELECT r.forge, r.server, count(DISTINCT r.id),"
        " (SELECT max(d.received_at) FROM deliveries d JOIN repos r2 ON r2.id = d.repo_id"
        "   WHERE r2.server = r.server),"
        " (SELECT count(*) FROM jobs j JOIN repos r3 ON r3.id = j.repo_id"
        "   WHERE r3.server = r.server AND j.state = 'failed' AND j.updated_at >= ?)"
        " FROM repos r GROUP BY r.forge, r.server ORDER BY r.server",
        [t - DAY],
    ).fetchall()
    return [
        {
            "forge": forge,
            "server": server,
            "repos": n,
            "last_webhook": last,
            "failed_24h": failed,
            "ok": failed == 0,
        }
        for forge, server, n, last, failed in rows
    ]


def model_endpoints(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Endpoints registered with `revisor model add` (the table exists once that feature is in)."""
    if not db["model_endpoints"].exists():
        return []
    return [
        {
            "id": r["id"],
            "url": r["url"],
            "model": r["model"],
            "max_concurrency": r["max_concurrency"],
            "context_tokens": r["context_tokens"],
            "default": bool(r["is_default"]),
            "has_api_key": r["api_key_enc"] is not None,
            "source": "database",
        }
        for r in db.query("SELECT * FROM model_endpoints ORDER BY id")
    ]


def model_usage(db: sqlite_utils.Database, since: float) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT endpoint, model, count(*) AS calls, sum(1 - ok) AS errors,"
            " sum(prompt_tokens + completion_tokens) AS tokens, avg(latency_ms) AS avg_latency_ms"
            " FROM usage WHERE created_at >= ? GROUP BY endpoint, model ORDER BY calls DESC",
            [since],
        )
    )


def search_audit(
    audit_db: sqlite_utils.Database,
    *,
    text: str = "",
    event: str = "",
    actor: str = "",
    since: float | None = None,
    until: float | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Audit records, newest first. `text` matches event, actor, target, source or details;
    `job:17` or `repo:3` also finds the records about that job or repository that name it only
    in their details (a model request, a posted comment, a commit status)."""
    where, params = _audit_where(text, event, actor, since, until)
    # Only the fixed fragments of _audit_where are joined in; every value is a bound parameter.
    sql = f"SELECT * FROM audit WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?"  # noqa: S608
    out = []
    for row in audit_db.query(sql, [*params, limit, offset]):
        row["details"] = json.loads(row["details"])
        out.append(row)
    return out


def count_audit(
    audit_db: sqlite_utils.Database,
    *,
    text: str = "",
    event: str = "",
    actor: str = "",
    since: float | None = None,
    until: float | None = None,
) -> int:
    where, params = _audit_where(text, event, actor, since, until)
    sql = f"SELECT count(*) FROM audit WHERE {where}"  # noqa: S608
    return int(audit_db.execute(sql, params).fetchone()[0])


_RELATED = re.compile(r"\s*(job|repo):(\d{1,12})\s*")


def _audit_where(
    text: str, event: str, actor: str, since: float | None, until: float | None
) -> tuple[str, list[Any]]:
    where: list[str] = ["1=1"]
    params: list[Any] = []
    if event:
        where.append("event LIKE ? ESCAPE '\\'")
        params.append(_like_prefix(event))
    if actor:
        where.append("actor LIKE ? ESCAPE '\\'")
        params.append("%" + _like_escape(actor) + "%")
    if text:
        match = _RELATED.fullmatch(text)
        if match:  # the record's target, or its details naming the job or repository
            kind, number = match.group(1), int(match.group(2))
            where.append(
                f"(target = ? OR json_extract(details, '$.{kind}_id') = ?"
                " OR (event || ' ' || actor || ' ' || target || ' ' || details) LIKE ? ESCAPE '\\')"
            )
            params += [f"{kind}:{number}", number, f'%{kind}:{number}"%']
        else:
            where.append(
                "(event || ' ' || actor || ' ' || target || ' ' || source || ' ' || details)"
                " LIKE ? ESCAPE '\\'"
            )
            params.append("%" + _like_escape(text) + "%")
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if until is not None:
        where.append("ts < ?")
        params.append(until)
    return " AND ".join(where), params


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(value: str) -> str:
    return _like_escape(value) + "%"
