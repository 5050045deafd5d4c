"""The ast-grep rule pack: every rule well formed, and every rule's own valid/invalid cases hold.

`ast-grep test` runs the cases under rule-tests/: a rule that stops matching one of its
`invalid` snippets, or starts matching one of its `valid` ones, fails here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from revisor.analyzers.astgrep import pack_config
from revisor.analyzers.run import find_binary
from revisor.domain import Severity

PACK = pack_config().parent
TESTS = Path(__file__).parent / "rule-tests"
LANGUAGE_DIRS = {"go": "Go", "java": "Java", "js": "Tsx", "python": "Python"}
ID_PREFIXES = {"go": ("go-",), "java": ("java-",), "js": ("js-", "ts-"), "python": ("py-",)}


def rule_files() -> list[Path]:
    return sorted(PACK.glob("*/*.yml"))


def test_the_pack_has_rules_for_each_language() -> None:
    per_dir = {d: len(list((PACK / d).glob("*.yml"))) for d in LANGUAGE_DIRS}
    assert all(n >= 3 for n in per_dir.values()), per_dir


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.stem)
def test_rule_is_well_formed(path: Path) -> None:
    rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    lang_dir = path.parent.name
    assert rule["id"] == path.stem
    assert rule["id"].startswith(ID_PREFIXES[lang_dir])
    assert rule["language"] == LANGUAGE_DIRS[lang_dir]
    assert rule["severity"] in ("error", "warning", "info", "hint")
    Severity.parse(rule["metadata"]["severity"])
    # Shown to developers as is: plain words, long enough to say the risk and the fix, and
    # never interpolated with code from the file ($VAR would be replaced by matched text).
    assert 80 <= len(rule["message"]) <= 400
    assert "$" not in rule["message"]
    assert rule["note"].strip()
    cases = yaml.safe_load((TESTS / f"{rule['id']}-test.yml").read_text(encoding="utf-8"))
    assert cases["id"] == rule["id"]
    assert len(cases["valid"]) >= 2
    assert len(cases["invalid"]) >= 2


def test_every_rule_case_holds(tmp_path: Path) -> None:
    binary = find_binary("ast-grep")
    assert binary is not None
    dirs = ", ".join(str(PACK / d) for d in LANGUAGE_DIRS)
    pack = yaml.safe_load((PACK / "sgconfig.yml").read_text(encoding="utf-8"))
    config = tmp_path / "sgconfig.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "ruleDirs": [str(PACK / d) for d in LANGUAGE_DIRS],
                "testConfigs": [{"testDir": str(TESTS)}],
                "languageGlobs": pack["languageGlobs"],
            }
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [binary, "test", "--skip-snapshot-tests", "--config", str(config), "--color", "never"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{len(rule_files())} passed" in done.stdout, (dirs, done.stdout[-2000:])


def test_every_rule_test_has_its_rule() -> None:
    ids = {p.stem for p in rule_files()}
    assert {p.name.removesuffix("-test.yml") for p in TESTS.glob("*-test.yml")} == ids


def test_the_docs_name_every_rule() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "analyzers.md").read_text(encoding="utf-8")
    assert [p.stem for p in rule_files() if f"`{p.stem}`" not in docs] == []
