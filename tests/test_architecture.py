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
        ("gitlab", ("forges/gitlab/",)),
        ("ldap3", ("web/auth/ldap.py", "ops/", "directory.py")),
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


def _forge_kind_member(node: ast.AST) -> bool:
    """`ForgeKind.GITLAB` and the like (an enum member named in the code)."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "ForgeKind"
        and node.attr.isupper()
    )


def _decides_by_forge_kind(node: ast.AST) -> bool:
    if isinstance(node, ast.Compare):
        operands: list[ast.AST] = [node.left, *node.comparators]
    elif isinstance(node, ast.match_case):
        operands = [node.pattern]
    elif isinstance(node, ast.Dict):
        operands = [k for k in node.keys if k is not None]
    else:
        return False
    return any(_forge_kind_member(sub) for op in operands for sub in ast.walk(op))


def forge_kind_branches(tree: ast.AST) -> list[int]:
    """Lines that decide by forge kind: a comparison with a `ForgeKind` member, a `match` case
    on one, or a mapping keyed by them."""
    return [
        getattr(node, "lineno", 0) or node.pattern.lineno  # type: ignore[attr-defined]
        for node in ast.walk(tree)
        if _decides_by_forge_kind(node)
    ]


def test_no_module_outside_forges_branches_on_the_forge_kind() -> None:
    """Forge knowledge lives in `forges/`: elsewhere `ForgeKind` is only passed along."""
    found = {
        str(p.relative_to(SRC)): lines
        for p in SRC.rglob("*.py")
        if not str(p.relative_to(SRC)).startswith("forges/")
        and (lines := forge_kind_branches(ast.parse(p.read_text(encoding="utf-8"))))
    }
    assert found == {}


@pytest.mark.parametrize(
    "source",
    [
        "if forge is ForgeKind.GITLAB:\n    pass\n",
        "x = 1 if kind != ForgeKind.GITEA else 2\n",
        "ok = kind in (ForgeKind.GITLAB,)\n",
        "match kind:\n    case ForgeKind.GITEA:\n        pass\n",
        "f = {ForgeKind.GITLAB: a, ForgeKind.GITEA: b}[kind]\n",
    ],
)
def test_the_forge_kind_check_sees_every_form_of_branch(source: str) -> None:
    assert forge_kind_branches(ast.parse(source))
    assert not forge_kind_branches(ast.parse("choices = [f.value for f in ForgeKind]\n"))
    assert not forge_kind_branches(ast.parse("hooks_for(ForgeKind.GITLAB)\n"))


def test_forges_see_neither_the_store_nor_the_engine_nor_the_web() -> None:
    """Forges take a plain `ForgeTarget`; diffs and markers come from `revisor.text`."""
    forbidden = ("revisor.store", "revisor.review", "revisor.web", "revisor.worker", "revisor.ops")
    assert offending(modules("forges"), forbidden) == {}


def test_text_formats_depend_on_the_domain_only() -> None:
    """`revisor.text` is shared by review/ and forges/, so it imports neither."""
    used = {
        name for path in modules("text") for name in imports_of(path) if name.startswith("revisor")
    }
    assert used <= {"revisor.domain"}


def test_the_doctor_does_not_import_the_web_layer() -> None:
    assert offending(modules("ops"), ("revisor.web", "httpx")) == {}


@pytest.mark.parametrize("package", ["audit", "llm"])
def test_audit_and_llm_do_not_import_the_store(package: str) -> None:
    """The audit log opens its own file (`revisor.sqlitefile`); llm/ gets endpoint rows from
    `store/endpoints.py` through its callers."""
    assert offending(modules(package), ("revisor.store",)) == {}
