"""The scheduled jobs' texts (reminders, removals, admin reports) are in both catalogs.

``tests/unit/core/test_i18n.py`` scans core, handlers and bots; the jobs build their messages
too, some from an enumeration (``reconcile.kind.<kind>``), so they are checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.i18n import catalog_keys
from core.reconciliation import MismatchKind

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]*[a-z0-9_])["']""")


def job_keys() -> set[str]:
    keys = {f"reconcile.kind.{kind.value}" for kind in MismatchKind}
    for path in sorted((ROOT / "jobs").glob("*.py")):
        keys |= set(KEY.findall(path.read_text(encoding="utf-8")))
    return keys


def test_the_scanner_finds_the_jobs_texts() -> None:
    assert {"community.reminder", "community.removed", "reconcile.report"} <= job_keys()


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_every_job_text_is_translated(locale: str) -> None:
    catalog = catalog_keys(locale)
    assert sorted(k for k in job_keys() if not catalog.get(k, "").strip()) == []
