from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from inventory.models import Item, Principal, ReservationState
from inventory.repository import NotFound, Repository
from inventory.service import Forbidden, InventoryService, OutOfStock

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
ALICE = Principal("alice", warehouses=frozenset({"north"}))
BOB = Principal("bob", warehouses=frozenset({"south"}))
ADMIN = Principal("root", roles=frozenset({"admin"}))


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    r = Repository(tmp_path / "inventory.db")
    r.add_item(Item("BOLT-10", "Bolt M10", Decimal("0.35"), 100, "north"))
    r.add_item(Item("NUT-10", "Nut M10", Decimal("0.10"), 5, "south"))
    yield r
    r.close()


@pytest.fixture
def clock() -> list[datetime]:
    return [NOW]


@pytest.fixture
def svc(repo: Repository, clock: list[datetime]) -> InventoryService:
    return InventoryService(repo, clock=lambda: clock[0])


def test_restock_adds_units_for_a_manager(svc: InventoryService) -> None:
    assert svc.restock(ALICE, "BOLT-10", 20) == 120


def test_restock_of_another_warehouse_is_forbidden(svc: InventoryService) -> None:
    with pytest.raises(Forbidden):
        svc.restock(BOB, "BOLT-10", 20)


def test_restock_quantity_must_be_positive(svc: InventoryService) -> None:
    with pytest.raises(ValueError, match="quantity"):
        svc.restock(ALICE, "BOLT-10", 0)


def test_write_off_cannot_go_below_zero(svc: InventoryService) -> None:
    with pytest.raises(ValueError, match="would become"):
        svc.write_off(BOB, "NUT-10", 6, "lost")


def test_reserve_holds_units(svc: InventoryService, repo: Repository) -> None:
    r = svc.reserve(ALICE, "BOLT-10", 30)
    assert r.state is ReservationState.HELD
    assert repo.stock("BOLT-10", NOW + timedelta(minutes=1)).available == 70


def test_reserve_more_than_available_is_refused(svc: InventoryService) -> None:
    with pytest.raises(OutOfStock) as err:
        svc.reserve(BOB, "NUT-10", 9)
    assert err.value.available == 5


def test_confirm_takes_units_out_of_stock(svc: InventoryService, repo: Repository) -> None:
    r = svc.reserve(ALICE, "BOLT-10", 10)
    svc.confirm(ALICE, r.id)
    assert repo.item("BOLT-10").on_hand == 90


def test_release_gives_units_back(svc: InventoryService, repo: Repository) -> None:
    r = svc.reserve(ALICE, "BOLT-10", 10)
    svc.release(ALICE, r.id)
    assert repo.stock("BOLT-10", NOW).available == 100


def test_someone_elses_reservation_is_not_found(svc: InventoryService) -> None:
    r = svc.reserve(ALICE, "BOLT-10", 10)
    with pytest.raises(NotFound):
        svc.release(BOB, r.id)
    assert svc.release(ADMIN, r.id).state is ReservationState.RELEASED


def test_expired_holds_are_expired(svc: InventoryService, clock: list[datetime]) -> None:
    svc.reserve(ALICE, "BOLT-10", 10, hold=timedelta(minutes=5))
    clock[0] = NOW + timedelta(hours=1)
    assert svc.expire_holds() == 1


def test_quote_multiplies_price(svc: InventoryService) -> None:
    assert svc.quote("BOLT-10", 3).total == 1.05


def test_items_refuses_unknown_sort(repo: Repository) -> None:
    with pytest.raises(ValueError, match="cannot sort"):
        repo.items("north", sort="name; DROP TABLE items")


def test_items_sorts_descending(repo: Repository) -> None:
    repo.add_item(Item("AXLE-1", "Axle", Decimal("9.50"), 2, "north"))
    assert [i.sku for i in repo.items("north", sort="-sku")] == ["BOLT-10", "AXLE-1"]
