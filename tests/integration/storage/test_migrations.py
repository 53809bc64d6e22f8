"""The Alembic migrations and the SQLModel tables describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

import bot
from storage.tables import metadata


async def test_migrated_schema_matches_the_models(app: bot.App) -> None:
    def diff(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    async with app.db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == [], f"models and migrations differ; generate a migration: {changes}"


async def test_upgrade_is_idempotent_and_at_head(app: bot.App) -> None:
    await app.db.upgrade()
    current, head = await app.db.revision_status()
    assert current == head is not None
