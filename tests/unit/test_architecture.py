"""The dependency rule: core imports nothing outside core (no SDK, no outer
layer); handlers import only core. Checked on the source, so a violation
fails here before it can spread."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names)
#: third-party libraries the core may use: validation, settings, CLDR formatting and pure computation
#: (segmentation, arrays, sparse matrices, models, string distances), no I/O SDKs.
CORE_ALLOWED = {"pydantic", "pydantic_settings", "babel", "jieba", "numpy", "scipy", "sklearn", "rapidfuzz"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots - {"__future__"}


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", sources("core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_only_core_stdlib_and_pure_libraries(path: Path) -> None:
    bad = imported_roots(path) - STDLIB - CORE_ALLOWED - {"core"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", sources("handlers"), ids=lambda p: str(p.relative_to(ROOT)))
def test_handlers_import_only_core(path: Path) -> None:
    bad = imported_roots(path) - STDLIB - {"core", "handlers"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_rule_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself: an SDK import in a core-like file is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy\nfrom telegram import Bot\nfrom core.money import Money\n")
    assert imported_roots(bad) - STDLIB - CORE_ALLOWED - {"core"} == {"sqlalchemy", "telegram"}


def test_only_bot_py_wires_storage_into_handlers() -> None:
    """Adapters and jobs never build their own database: bot.py is the composition root."""
    for package in ("bots", "jobs", "handlers", "core"):
        for path in sources(package):
            text = path.read_text(encoding="utf-8")
            assert "create_async_engine" not in text and "build_app(" not in text, path
