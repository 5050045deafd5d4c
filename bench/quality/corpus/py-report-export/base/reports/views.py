"""HTTP views of the reports service."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Blueprint, abort, g, jsonify, request

from reports.auth import require_login

bp = Blueprint("reports", __name__)
DB_PATH = Path("/var/lib/reports/reports.db")


def db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(DB_PATH)
        g.db.row_factory = sqlite3.Row
    return g.db


@bp.get("/reports/<int:report_id>")
@require_login
def show(report_id: int):
    row = db().execute(
        "SELECT id, title, owner, created_at FROM reports WHERE id = ?", (report_id,)
    ).fetchone()
    if row is None:
        abort(404)
    return jsonify(dict(row))


@bp.get("/reports")
@require_login
def index():
    rows = db().execute(
        "SELECT id, title, owner, created_at FROM reports WHERE owner = ? ORDER BY created_at DESC",
        (g.user.id,),
    ).fetchall()
    return jsonify([dict(r) for r in rows])
