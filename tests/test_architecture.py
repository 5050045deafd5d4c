"""The module arrows the design relies on, checked on the source (no extra tool needed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "revisor"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(under: str) -> list[Path]:
    return sorted((SRC / under).rglob("*.py"))


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad: dict[str, list[str]] = {}
    for path in paths:
        hits = sorted(
            name
            for name in imports_of(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        )
        if hits:
            bad[str(path.relative_to(SRC))] = hits
    return bad


def test_the_review_engine_is_pure() -> None:
    """review/ does no I/O: no HTTP, no forge client, no queue, no web, no database."""
    forbidden = (
        "httpx", "requests", "gitlab", "huey", "litestar", "sqlite3", "sqlite_utils", "ldap3",
        "socket", "subprocess", "revisor.store", "revisor.forges", "revisor.llm",
        "revisor.web", "revisor.worker", "revisor.egress",
    )  # fmt: skip
    assert offending(modules("review"), forbidden) == {}


@pytest.mark.parametrize(
    ("library", "allowed"),
    [
        ("gitlab", ("forges/gitlab.py",)),
        ("ldap3", ("web/auth/ldap.py", "ops/")),
        ("huey", ("worker/",)),
    ],
)
def test_client_libraries_stay_in_their_adapters(library: str, allowed: tuple[str, ...]) -> None:
    users = {
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if any(n == library or n.startswith(library + ".") for n in imports_of(p))
    }
    assert {u for u in users if not u.startswith(allowed)} == set()


def test_outbound_http_clients_are_built_by_egress_only() -> None:
    """Every HTTP client comes from `Egress.client()` (httpx) or `Egress.session()` (requests,
    for python-gitlab), which enforce the allowlist and the response size cap."""
    builders = []
    markers = ("httpx.Client(", "httpx.AsyncClient(", "(httpx.Client)", "requests.Session(")
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if any(m in text for m in markers):
            builders.append(str(path.relative_to(SRC)))
    assert builders == ["egress.py"]


def test_nothing_forge_specific_in_the_engine_or_worker() -> None:
    assert (
        offending(
            modules("review") + modules("worker"), ("revisor.forges.gitlab", "revisor.forges.gitea")
        )
        == {}
    )


@pytest.mark.parametrize("package", ["audit", "llm"])
def test_audit_and_llm_do_not_import_the_store(package: str) -> None:
    """The audit log opens its own file (`revisor.sqlitefile`); llm/ gets endpoint rows from
    `store/endpoints.py` through its callers."""
    assert offending(modules(package), ("revisor.store",)) == {}
