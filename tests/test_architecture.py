"""The module arrows the design relies on.

The map itself is import-linter's (`[tool.importlinter]` in pyproject.toml, run by `make lint`);
here: that it holds, that breaking a contract fails the lint, and what import-linter cannot
say (which libraries stay in which adapter, who builds HTTP clients, who branches on the forge).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
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


ROOT = SRC.parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(src: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The project's import contracts, checked on the `revisor` package found in `src`."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_module_map_holds(tmp_path: Path) -> None:
    result = lint_imports(SRC.parent, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("review/_probe.py", "import httpx", "The review engine is pure"),
        ("forges/_probe.py", "from revisor.store import repos", "Forges take a plain ForgeTarget"),
        ("forges/gitea/_probe.py", "import revisor.forges.gitlab.api", "Each forge stands alone"),
        ("store/_probe.py", "import revisor.web.app", "Module layers"),
        ("text/_probe.py", "import revisor.config", "Text formats"),
    ],
)
def test_a_contract_broken_on_purpose_fails_the_lint(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy / "revisor", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "revisor" / module).write_text(line + "\n", encoding="utf-8")
    result = lint_imports(copy, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
    assert "_probe" in broken
