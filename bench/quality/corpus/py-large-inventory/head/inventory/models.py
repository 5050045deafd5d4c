"""Domain objects of the inventory service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum


class ReservationState(str, Enum):
    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    unit_price: Decimal
    on_hand: int
    warehouse: str

    def __post_init__(self) -> None:
        if not self.sku or len(self.sku) > 32:
            raise ValueError("sku must be 1-32 characters")
        if self.on_hand < 0:
            raise ValueError("on_hand cannot be negative")
        if self.unit_price < 0:
            raise ValueError("unit_price cannot be negative")


@dataclass
class Reservation:
    id: int
    sku: str
    quantity: int
    customer: str
    state: ReservationState = ReservationState.HELD
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    hold_for: timedelta = timedelta(minutes=15)

    @property
    def expires_at(self) -> datetime:
        return self.created_at + self.hold_for

    def is_active(self, now: datetime) -> bool:
        return self.state is ReservationState.HELD and now < self.expires_at


@dataclass(frozen=True)
class StockLevel:
    sku: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user id and the warehouses they may manage."""

    user: str
    roles: frozenset[str] = frozenset()
    warehouses: frozenset[str] = frozenset()

    def manages(self, warehouse: str) -> bool:
        return "admin" in self.roles or warehouse in self.warehouses
