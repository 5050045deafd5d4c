"""HTTP handlers of the billing service."""

import logging

from billing import db, gateway
from billing.auth import require_role
from billing.money import format_cents, parse_cents

log = logging.getLogger(__name__)


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
