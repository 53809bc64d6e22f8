"""Translation catalogs: both languages have every key the code uses, with the
same placeholders, and handlers contain no user-facing literals."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from core.i18n import Translator, catalog_keys, translator
from core.money import Money

ROOT = Path(__file__).resolve().parents[3]
KEY = re.compile(r"""(?:\bt|ctx\.t|\bt\.n|ctx\.t\.n|translator\([^)]*\))\(\s*["']([a-z_]+\.[a-z0-9_.]*[a-z0-9_])["']""")
ERR = re.compile(r"""(?:UserFacingError|NotFound|PermissionDenied)\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""")
RETURNED = re.compile(r"""return\s+["']([a-z_]+\.[a-z_]+)["']""")


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for folder in ("core", "handlers", "bots", "bot.py"):
        paths = [ROOT / folder] if folder.endswith(".py") else sorted((ROOT / folder).rglob("*.py"))
        for path in paths:
            text = path.read_text(encoding="utf-8")
            keys |= set(KEY.findall(text)) | set(ERR.findall(text)) | set(RETURNED.findall(text))
    keys |= {f"lang.{code}" for code in ("zh", "en")} | {f"lang.switch.{code}" for code in ("zh", "en")}
    return keys


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogs_have_the_same_keys() -> None:
    en, zh = catalog_keys("en"), catalog_keys("zh_CN")
    assert set(en) == set(zh), f"only en: {set(en) - set(zh)}; only zh: {set(zh) - set(en)}"


def test_every_key_used_in_code_is_translated() -> None:
    en, zh = catalog_keys("en"), catalog_keys("zh_CN")
    used = _used_keys()
    assert used, "the key scanner found nothing"
    missing = sorted(k for k in used if k not in en or k not in zh)
    assert not missing, f"keys used in code but missing from a catalog: {missing}"


def test_placeholders_match_between_languages() -> None:
    en, zh = catalog_keys("en"), catalog_keys("zh_CN")
    for key in en:
        assert _fields(en[key]) == _fields(zh[key]) or key.endswith(".plural"), key


def test_no_empty_translations() -> None:
    for locale in ("en", "zh_CN"):
        empty = [k for k, v in catalog_keys(locale).items() if not v.strip()]
        assert not empty, (locale, empty)


def test_plural_forms() -> None:
    en = translator("en")
    assert en.n("card.lessons", 1, free=1) == "1 lesson, 1 free"
    assert en.n("card.lessons", 4, free=1) == "4 lessons, 1 free"
    assert translator("zh").n("card.lessons", 4, free=1) == "共 4 课，1 课免费"


@pytest.mark.parametrize(
    ("lang", "money", "shown"),
    [
        ("zh", Money(9900, "CNY"), "¥99.00"),
        ("en", Money(1999, "USD"), "$19.99"),
        ("en", Money(400, "XTR"), "400 ⭐"),
        ("en", Money(5, "USD"), "$0.05"),
    ],
)
def test_money_is_formatted_for_the_locale(lang: str, money: Money, shown: str) -> None:
    assert Translator(lang).money(money) == shown


def test_unknown_language_falls_back_to_english() -> None:
    assert Translator("fr")("menu.header") == catalog_keys("en")["menu.header"]


def _ui_literals(path: Path) -> list[str]:
    """String constants that look like prose: spaces, letters outside ASCII, or sentence punctuation."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    # Developer-facing text (exceptions raised, log lines) is not UI.
    skip = set(docstrings)
    for node in ast.walk(tree):
        is_log = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("log", "logger", "logging")
        )
        if isinstance(node, ast.Raise) or is_log:
            skip |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            value = node.value
            if re.search(r"[^\x00-\x7f]", value) or re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", value):
                found.append(value)
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "handlers").rglob("*.py")), ids=lambda p: p.name)
def test_handlers_contain_no_ui_literals(path: Path) -> None:
    assert _ui_literals(path) == []


def test_literal_scanner_catches_prose(tmp_path: Path) -> None:
    sample = tmp_path / "h.py"
    sample.write_text(
        'def f():\n    """Doc string is fine."""\n    log.info("log lines are fine")\n'
        '    return ["Welcome back", "欢迎", "catalog.header"]\n'
    )
    assert _ui_literals(sample) == ["Welcome back", "欢迎"]
