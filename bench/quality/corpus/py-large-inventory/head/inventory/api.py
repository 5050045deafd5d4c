"""HTTP API of the inventory service (Flask)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, g, jsonify, request

from inventory.models import Principal
from inventory.repository import NotFound, Repository
from inventory.service import Forbidden, InventoryService, OutOfStock

bp = Blueprint("inventory", __name__, url_prefix="/api/v1")


def service() -> InventoryService:
    return g.inventory


def principal() -> Principal:
    return g.principal  # set by the authentication middleware


@bp.errorhandler(NotFound)
def not_found(exc: NotFound):
    return jsonify(error="not found"), 404


@bp.errorhandler(Forbidden)
def forbidden(exc: Forbidden):
    return jsonify(error="forbidden"), 403


@bp.errorhandler(OutOfStock)
def out_of_stock(exc: OutOfStock):
    return jsonify(error="out of stock", sku=exc.sku, available=exc.available), 409


@bp.errorhandler(ValueError)
def bad_request(exc: ValueError):
    return jsonify(error=str(exc)), 400


@bp.get("/warehouses/<warehouse>/items")
def list_items(warehouse: str):
    if not principal().manages(warehouse):
        raise Forbidden(warehouse)
    sort = request.args.get("sort", "sku")
    limit = min(int(request.args.get("limit", 100)), 500)
    items = service().repo.items(warehouse, sort=sort, limit=limit)
    return jsonify([_item_json(i) for i in items])


@bp.get("/warehouses/<warehouse>/search")
def search_items(warehouse: str):
    if not principal().manages(warehouse):
        raise Forbidden(warehouse)
    text = request.args.get("q", "")
    return jsonify([_item_json(i) for i in service().repo.search(text, warehouse)])


@bp.get("/items/<sku>")
def get_item(sku: str):
    return jsonify(_item_json(service().item_for(principal(), sku)))


@bp.get("/items/<sku>/quote")
def quote(sku: str):
    quantity = int(request.args.get("quantity", 1))
    q = service().quote(sku, quantity)
    return jsonify(sku=q.sku, quantity=q.quantity, total=q.total, currency=q.currency)


@bp.post("/items/<sku>/restock")
def restock(sku: str):
    body = request.get_json(force=True)
    on_hand = service().restock(principal(), sku, int(body["quantity"]))
    return jsonify(sku=sku, on_hand=on_hand)


@bp.post("/items/<sku>/write-off")
def write_off(sku: str):
    body = request.get_json(force=True)
    reason = str(body.get("reason", ""))[:200]
    on_hand = service().write_off(principal(), sku, int(body["quantity"]), reason)
    return jsonify(sku=sku, on_hand=on_hand)


@bp.post("/items/<sku>/reservations")
def reserve(sku: str):
    body = request.get_json(force=True)
    minutes = min(int(body.get("hold_minutes", 15)), 60)
    reservation = service().reserve(
        principal(), sku, int(body["quantity"]), hold=timedelta(minutes=minutes)
    )
    return jsonify(_reservation_json(reservation)), 201


@bp.post("/reservations/<int:reservation_id>/confirm")
def confirm(reservation_id: int):
    return jsonify(_reservation_json(service().confirm(principal(), reservation_id)))


@bp.post("/reservations/<int:reservation_id>/release")
def release(reservation_id: int):
    return jsonify(_reservation_json(service().release(principal(), reservation_id)))


def _item_json(item) -> dict:
    return {
        "sku": item.sku,
        "name": item.name,
        "unit_price": str(item.unit_price),
        "on_hand": item.on_hand,
        "warehouse": item.warehouse,
    }


def _reservation_json(reservation) -> dict:
    return {
        "id": reservation.id,
        "sku": reservation.sku,
        "quantity": reservation.quantity,
        "state": reservation.state.value,
        "expires_at": reservation.expires_at.isoformat(),
    }


def create_app(repo: Repository) -> Flask:
    app = Flask(__name__)
    app.register_blueprint(bp)

    @app.before_request
    def attach_service() -> None:
        g.inventory = InventoryService(repo)

    return app
