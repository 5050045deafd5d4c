"""HTTP handlers of the billing service."""

import logging

import httpx

from billing import db, gateway
from billing.auth import require_role
from billing.money import format_cents, parse_cents

log = logging.getLogger(__name__)

GATEWAY_URL = "https://payments.internal.example/v2"


def create_payment(user, request):
    require_role(user, "billing-admin")
    customer_id = int(request.json["customer_id"])
    cents = parse_cents(request.json["amount"])
    reply = gateway.call("charge", {"customer": customer_id, "amount": cents})
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO payments (id, customer_id, cents, state) VALUES (?, ?, ?, 'paid')",
            (reply["payment_id"], customer_id, cents),
        )
    log.info("payment %s for customer %s", reply["payment_id"], customer_id)
    return {"payment_id": reply["payment_id"], "amount": format_cents(cents)}


def list_payments(user, customer_id):
    require_role(user, "billing-reader")
    with db.transaction() as tx:
        rows = tx.execute(
            "SELECT id, cents, state FROM payments WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        ).fetchall()
    return [{"id": r[0], "amount": format_cents(r[1]), "state": r[2]} for r in rows]


def refund_payment(user, request):
    payment_id = request.json["payment_id"]
    reason = request.json.get("reason", "")
    with db.transaction() as tx:
        row = tx.execute(
            "SELECT customer_id, cents, state FROM payments WHERE id = ?", (payment_id,)
        ).fetchone()
    if row is None:
        return {"error": "no such payment"}, 404
    customer_id, cents, state = row
    if state != "paid":
        return {"error": f"payment is {state}"}, 409
    reply = httpx.post(
        f"{GATEWAY_URL}/refunds",
        json={"payment": payment_id, "amount": cents, "reason": reason},
        timeout=10,
    ).json()
    conn = db.connect()
    conn.execute("UPDATE payments SET state = 'refunded' WHERE id = ?", (payment_id,))
    conn.commit()
    log.info("refund %s for %s", reply["refund_id"], request.json["email"])
    return {"refund_id": reply["refund_id"], "amount": format_cents(cents)}


def monthly_statement(user, customer_id, month):
    require_role(user, "billing-reader")
    with db.transaction() as tx:
        rows = tx.execute(
            "SELECT id, cents FROM payments WHERE customer_id = ? AND month = ? AND state = 'paid'",
            (customer_id, month),
        ).fetchall()
    total = 0
    lines = []
    for payment_id, cents in rows:
        euros = cents / 100
        total += euros
        lines.append({"id": payment_id, "amount": f"{euros:.2f} EUR"})
    return {"customer_id": customer_id, "month": month, "lines": lines, "total": round(total, 2)}
