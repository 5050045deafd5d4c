"""HTTP views of the reports service."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

from flask import Blueprint, Response, abort, g, jsonify, request, send_file

from reports.auth import require_login

bp = Blueprint("reports", __name__)
DB_PATH = Path("/var/lib/reports/reports.db")
EXPORT_DIR = Path("/var/lib/reports/exports")


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


@bp.get("/reports/search")
@require_login
def search():
    term = request.args.get("q", "")
    order = request.args.get("order", "created_at")
    rows = db().execute(
        f"SELECT id, title, owner, created_at FROM reports "
        f"WHERE owner = {g.user.id} AND title LIKE '%{term}%' ORDER BY {order}"
    ).fetchall()
    return jsonify([dict(r) for r in rows])


@bp.get("/reports/<int:report_id>/lines.csv")
@require_login
def export_lines(report_id: int):
    lines = db().execute(
        "SELECT l.sku, l.quantity, l.unit_price FROM report_lines l JOIN reports r ON r.id = l.report_id "
        "WHERE l.report_id = ? AND r.owner = ?", (report_id, g.user.id)
    ).fetchall()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sku", "quantity", "unit_price", "amount"])
    total = 0.0
    for line in lines:
        amount = float(line["unit_price"]) * line["quantity"]
        total += amount
        writer.writerow([line["sku"], line["quantity"], line["unit_price"], round(amount, 2)])
    writer.writerow(["TOTAL", "", "", round(total, 2)])
    return Response(out.getvalue(), mimetype="text/csv")


@bp.get("/exports/<path:name>")
@require_login
def download_export(name: str):
    target = EXPORT_DIR / name
    if not target.exists():
        abort(404)
    return send_file(target, as_attachment=True)
