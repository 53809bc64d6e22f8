"""A bad course folder is refused whole: the database and the media store stay exactly as they were."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

import bot
from core.course_import import CatalogImportError
from storage.tables import CourseRow, LessonMediaRow, LessonRow, PlanRow

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "examples" / "catalog"

BREAKAGES = {
    "negative price": ("python-basics/course.toml", "amount = 1999", "amount = -1", "price.amount"),
    "unknown drip mode": ("personal-finance/course.toml", 'mode = "daily"', 'mode = "weekly"', "drip.mode"),
    "missing title": ("public-speaking/course.toml", "title =", "titel =", "title"),
    "missing media": (
        "photo-composition-zh/lessons/02-leading-lines.md",
        "media/leading-lines.png",
        "media/nope.png",
        "nope.png",
    ),
}


async def snapshot(app: bot.App) -> tuple[int, ...]:
    async with app.db.engine.connect() as conn:
        out = []
        for table in (CourseRow, LessonRow, LessonMediaRow, PlanRow):
            out.append(int((await conn.execute(select(func.count()).select_from(table))).scalar_one()))
        titles = (await conn.execute(select(func.count()).where(CourseRow.title.like("%EDITED%")))).scalar_one()  # type: ignore[attr-defined]
        out.append(int(titles))
    return tuple(out)


@pytest.mark.parametrize("name", sorted(BREAKAGES))
async def test_bad_folder_changes_nothing(demo: bot.App, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "catalog"
    shutil.copytree(CATALOG, folder)
    # An otherwise valid edit travels with the breakage: it must not land either.
    course_toml = folder / "python-basics-zh" / "course.toml"
    course_toml.write_text(
        course_toml.read_text(encoding="utf-8").replace('title = "', 'title = "EDITED ', 1), encoding="utf-8"
    )
    rel, old, new, field = BREAKAGES[name]
    target = folder / rel
    text = target.read_text(encoding="utf-8")
    assert old in text, f"fixture drifted: {old!r} not in {rel}"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    media_before = sorted(p.name for p in demo.settings.media_dir.iterdir())
    before = await snapshot(demo)
    with pytest.raises(CatalogImportError) as err:
        await bot.import_path(demo, folder)
    assert field in str(err.value) and rel.split("/")[0] in str(err.value)
    assert await snapshot(demo) == before
    assert sorted(p.name for p in demo.settings.media_dir.iterdir()) == media_before
