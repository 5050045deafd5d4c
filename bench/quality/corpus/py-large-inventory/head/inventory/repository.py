"""SQLite storage for items and reservations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from inventory.models import Item, Reservation, ReservationState, StockLevel

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
    warehouse TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sku TEXT NOT NULL REFERENCES items(sku),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    customer TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    hold_seconds INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_sku_state ON reservations (sku, state);
"""

SORTABLE = {"sku", "name", "on_hand", "unit_price"}


class NotFound(LookupError):
    pass


class Repository:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # --- items ---------------------------------------------------------------------------

    def add_item(self, item: Item) -> None:
        self._conn.execute(
            "INSERT INTO items (sku, name, unit_price, on_hand, warehouse) VALUES (?, ?, ?, ?, ?)",
            (item.sku, item.name, str(item.unit_price), item.on_hand, item.warehouse),
        )

    def item(self, sku: str) -> Item:
        row = self._conn.execute("SELECT * FROM items WHERE sku = ?", (sku,)).fetchone()
        if row is None:
            raise NotFound(sku)
        return _item(row)

    def items(self, warehouse: str, sort: str = "sku", limit: int = 100) -> list[Item]:
        if sort.lstrip("-") not in SORTABLE:
            raise ValueError(f"cannot sort by {sort!r}")
        direction = "DESC" if sort.startswith("-") else "ASC"
        rows = self._conn.execute(
            f"SELECT * FROM items WHERE warehouse = ? ORDER BY {sort.lstrip('-')} {direction} "
            "LIMIT ?",
            (warehouse, limit),
        ).fetchall()
        return [_item(r) for r in rows]

    def search(self, text: str, warehouse: str) -> list[Item]:
        rows = self._conn.execute(
            "SELECT * FROM items WHERE warehouse = '%s' AND name LIKE '%%%s%%' ORDER BY sku"
            % (warehouse, text)
        ).fetchall()
        return [_item(r) for r in rows]

    def adjust_on_hand(self, sku: str, delta: int) -> int:
        with self.transaction() as conn:
            row = conn.execute("SELECT on_hand FROM items WHERE sku = ?", (sku,)).fetchone()
            if row is None:
                raise NotFound(sku)
            new = row["on_hand"] + delta
            if new < 0:
                raise ValueError(f"{sku}: on hand would become {new}")
            conn.execute("UPDATE items SET on_hand = ? WHERE sku = ?", (new, sku))
            return int(new)

    # --- reservations ------------------------------------------------------------------------

    def stock(self, sku: str, now: datetime) -> StockLevel:
        item = self.item(sku)
        reserved = sum(r.quantity for r in self.reservations(sku) if r.is_active(now))
        return StockLevel(sku, item.on_hand, reserved)

    def reservations(self, sku: str) -> list[Reservation]:
        rows = self._conn.execute(
            "SELECT * FROM reservations WHERE sku = ? ORDER BY id", (sku,)
        ).fetchall()
        return [_reservation(r) for r in rows]

    def reservation(self, reservation_id: int) -> Reservation:
        row = self._conn.execute(
            "SELECT * FROM reservations WHERE id = ?", (reservation_id,)
        ).fetchone()
        if row is None:
            raise NotFound(str(reservation_id))
        return _reservation(row)

    def insert_reservation(
        self,
        conn: sqlite3.Connection,
        sku: str,
        quantity: int,
        customer: str,
        hold: timedelta,
        created_at: datetime,
    ) -> int:
        cur = conn.execute(
            "INSERT INTO reservations (sku, quantity, customer, state, created_at, hold_seconds) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                sku,
                quantity,
                customer,
                ReservationState.HELD.value,
                created_at.isoformat(),
                int(hold.total_seconds()),
            ),
        )
        return int(cur.lastrowid or 0)

    def set_state(self, reservation_id: int, state: ReservationState) -> None:
        self._conn.execute(
            "UPDATE reservations SET state = ? WHERE id = ?", (state.value, reservation_id)
        )

    def expire(self, now: datetime) -> int:
        expired = 0
        for row in self._conn.execute(
            "SELECT * FROM reservations WHERE state = ?", (ReservationState.HELD.value,)
        ).fetchall():
            reservation = _reservation(row)
            if not reservation.is_active(now):
                self.set_state(reservation.id, ReservationState.EXPIRED)
                expired += 1
        return expired


def _item(row: sqlite3.Row) -> Item:
    return Item(
        row["sku"], row["name"], Decimal(row["unit_price"]), row["on_hand"], row["warehouse"]
    )


def _reservation(row: sqlite3.Row) -> Reservation:
    return Reservation(
        id=row["id"],
        sku=row["sku"],
        quantity=row["quantity"],
        customer=row["customer"],
        state=ReservationState(row["state"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        hold_for=timedelta(seconds=row["hold_seconds"]),
    )
