"""Trouble in progress, for the overview: jobs that keep failing but are still queued for a
retry, attempts that failed in the last day, and webhooks refused (wrong secret, unknown URL)
with the repository they were for when the hook URL named it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlite_utils

from revisor.forges.links import web_links
from revisor.store import attempts, repos

DAY = 86400.0


def retrying(db: sqlite_utils.Database, limit: int = 5) -> tuple[int, list[dict[str, Any]]]:
    """Queued jobs whose last attempt failed: how many, and the first few."""
    cond = "state = 'queued' AND attempts > 0 AND last_error IS NOT NULL"
    n = db.execute(f"SELECT count(*) FROM jobs WHERE {cond}").fetchone()[0]  # noqa: S608
    rows = list(
        db.query(
            "SELECT id, repo_id, mr_number, attempts, last_error, not_before FROM jobs"  # noqa: S608
            f" WHERE {cond} ORDER BY updated_at DESC LIMIT ?",
            [limit],
        )
    )
    return int(n), rows


def failed_attempts(db: sqlite_utils.Database, t: float) -> int:
    return attempts.failed_since(db, t - DAY)


def rejected_webhooks(
    audit_db: sqlite_utils.Database, t: float, limit: int = 8
) -> tuple[int, list[dict[str, Any]]]:
    """Refused deliveries of the last day (the audit records carry their counts), grouped by
    what they were for; newest first."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    total = 0
    for row in audit_db.query(
        "SELECT ts, actor, target, source, details FROM audit"
        " WHERE event = 'webhook.rejected' AND ts >= ? ORDER BY seq DESC LIMIT 5000",
        [t - DAY],
    ):
        details = json.loads(row["details"])
        count = int(details.get("count") or 1)
        total += count
        project = str(details.get("project") or "")
        what = project or row["target"]
        key = (what, str(details.get("reason") or ""), row["source"])
        g = groups.setdefault(
            key,
            {
                "what": what,
                "forge": row["actor"].removeprefix("forge:"),
                "reason": key[1],
                "source": row["source"],
                "count": 0,
                "last": row["ts"],
            },
        )
        g["count"] += count
    return total, list(groups.values())[:limit]


def mr_links(db: sqlite_utils.Database) -> Callable[[int, int], str | None]:
    """`link(repo_id, mr_number)`: the merge request on its Git server (registered URL only)."""
    known = {r.id: web_links(r.forge, r.server, r.project) for r in repos.list_all(db)}

    def link(repo_id: int, number: int) -> str | None:
        links = known.get(repo_id)
        return links.merge_request(number) if links else None

    return link
