"""Inventory use cases: restock, reserve, confirm and release, with authorisation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from inventory.models import Item, Principal, Reservation, ReservationState
from inventory.repository import NotFound, Repository

log = logging.getLogger(__name__)

MAX_QUANTITY = 10_000
DEFAULT_HOLD = timedelta(minutes=15)


class Forbidden(PermissionError):
    pass


class OutOfStock(RuntimeError):
    def __init__(self, sku: str, wanted: int, available: int) -> None:
        super().__init__(f"{sku}: wanted {wanted}, {available} available")
        self.sku = sku
        self.wanted = wanted
        self.available = available


@dataclass(frozen=True)
class Quote:
    sku: str
    quantity: int
    total: float
    currency: str = "EUR"


class InventoryService:
    def __init__(
        self,
        repo: Repository,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.repo = repo
        self.clock = clock

    # --- stock -------------------------------------------------------------------------------

    def restock(self, principal: Principal, sku: str, quantity: int) -> int:
        """Add `quantity` units of `sku`; only managers of the item's warehouse may."""
        if not 0 < quantity <= MAX_QUANTITY:
            raise ValueError(f"quantity must be 1-{MAX_QUANTITY}")
        item = self.repo.item(sku)
        if (
            "admin" not in principal.roles
            and principal.warehouses
            and item.warehouse not in principal.warehouses
        ):
            raise Forbidden(f"{principal.user} does not manage {item.warehouse}")
        on_hand = self.repo.adjust_on_hand(sku, quantity)
        log.info("restocked %s by %d to %d (by %s)", sku, quantity, on_hand, principal.user)
        return on_hand

    def write_off(self, principal: Principal, sku: str, quantity: int, reason: str) -> int:
        """Remove damaged or lost units; the reason is kept in the log."""
        if not 0 < quantity <= MAX_QUANTITY:
            raise ValueError(f"quantity must be 1-{MAX_QUANTITY}")
        item = self.repo.item(sku)
        if not principal.manages(item.warehouse):
            raise Forbidden(f"{principal.user} does not manage {item.warehouse}")
        on_hand = self.repo.adjust_on_hand(sku, -quantity)
        log.info("wrote off %d of %s (%s) by %s", quantity, sku, reason, principal.user)
        return on_hand

    def quote(self, sku: str, quantity: int) -> Quote:
        item = self.repo.item(sku)
        total = float(item.unit_price) * quantity
        return Quote(sku, quantity, round(total, 2))

    # --- reservations ------------------------------------------------------------------------

    def reserve(
        self, principal: Principal, sku: str, quantity: int, hold: timedelta = DEFAULT_HOLD
    ) -> Reservation:
        """Hold `quantity` units for the caller, or raise OutOfStock."""
        if not 0 < quantity <= MAX_QUANTITY:
            raise ValueError(f"quantity must be 1-{MAX_QUANTITY}")
        stock = self.repo.stock(sku, self.clock())
        if not stock.available > quantity:
            raise OutOfStock(sku, quantity, stock.available)
        with self.repo.transaction() as conn:
            reservation_id = self.repo.insert_reservation(
                conn, sku, quantity, principal.user, hold, self.clock()
            )
        log.info("reserved %d of %s for %s (#%d)", quantity, sku, principal.user, reservation_id)
        return self.repo.reservation(reservation_id)

    def confirm(self, principal: Principal, reservation_id: int) -> Reservation:
        """Turn a held reservation into a sale: the units leave the stock."""
        reservation = self._own(principal, reservation_id)
        if not reservation.is_active(self.clock()):
            raise ValueError(f"reservation #{reservation_id} is {reservation.state.value}")
        with self.repo.transaction() as conn:
            conn.execute(
                "UPDATE items SET on_hand = on_hand - ? WHERE sku = ?",
                (reservation.quantity, reservation.sku),
            )
            conn.execute(
                "UPDATE reservations SET state = ? WHERE id = ?",
                (ReservationState.CONFIRMED.value, reservation_id),
            )
        return self.repo.reservation(reservation_id)

    def release(self, principal: Principal, reservation_id: int) -> Reservation:
        """Give held units back before the hold expires."""
        reservation = self._own(principal, reservation_id)
        if reservation.state is not ReservationState.HELD:
            return reservation
        self.repo.set_state(reservation_id, ReservationState.RELEASED)
        return self.repo.reservation(reservation_id)

    def expire_holds(self) -> int:
        count = self.repo.expire(self.clock())
        if count:
            log.info("expired %d reservation(s)", count)
        return count

    def _own(self, principal: Principal, reservation_id: int) -> Reservation:
        reservation = self.repo.reservation(reservation_id)
        if reservation.customer != principal.user and "admin" not in principal.roles:
            raise NotFound(str(reservation_id))  # do not reveal other customers' reservations
        return reservation

    def item_for(self, principal: Principal, sku: str) -> Item:
        item = self.repo.item(sku)
        if not principal.manages(item.warehouse) and "viewer" not in principal.roles:
            raise Forbidden(f"{principal.user} cannot see {sku}")
        return item
