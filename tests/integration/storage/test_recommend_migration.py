"""Migration 0006 turns what learners did before it into signals, so the first refit has history.

It runs on a database of its own (a SQLite file), migrated to 0005, filled, then upgraded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import Connection

from storage.db import Database, alembic_config
from storage.recommend_tables import SignalRow
from storage.tables import CourseRow, LessonRow, OrderRow, ProgressRow, UserRow

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


async def upgrade_to(db: Database, revision: str) -> None:
    cfg = alembic_config()

    def run(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def test_paid_course_orders_and_completed_lessons_become_signals(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade_to(db, "0005")
        async with db.sessions() as s:
            s.add(UserRow(id=1, ref_code="r1", lang="en", timezone="Asia/Shanghai", created_at=AT))
            for cid in (1, 2):
                s.add(
                    CourseRow(
                        id=cid, slug=f"c{cid}", title=f"C{cid}", language="en", created_at=AT, updated_at=AT, tags=[]
                    )
                )
            s.add(LessonRow(id=1, course_id=2, slug="l1", title="L1", updated_at=AT))
            await s.flush()
            order = {"user_id": 1, "item_kind": "course", "amount": 100, "currency": "USD", "provider": "sandbox"}
            s.add(OrderRow(code="paid", item_id=1, status="paid", created_at=AT, expires_at=AT, paid_at=AT, **order))
            s.add(OrderRow(code="gone", item_id=2, status="expired", created_at=AT, expires_at=AT, **order))
            s.add(ProgressRow(user_id=1, lesson_id=1, course_id=2, delivered_at=AT, completed_at=AT, last_at=AT))
            await s.commit()
        await upgrade_to(db, "head")
        async with db.sessions() as s:
            rows = (await s.execute(select(SignalRow.user_id, SignalRow.course_id, SignalRow.kind))).all()
        assert sorted(tuple(r) for r in rows) == [(1, 1, "buy"), (1, 2, "complete")]
    finally:
        await db.dispose()
