"""Channel contacts: whether an identity follows the bot's account, since when, and its platform.

Every write is one ``INSERT … ON CONFLICT DO UPDATE`` (:func:`storage.upsert.insert_for`), so a
follow event racing a page view from another process cannot lose either.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.contacts import Contact, Platform
from core.users import Ref
from storage import convert
from storage.tables import ChannelContactRow
from storage.upsert import insert_for

__all__ = ["SqlContacts"]

T = ChannelContactRow
_KEY = ["channel", "external_id"]


def _contact(row: ChannelContactRow) -> Contact:
    return Contact(
        ref=Ref(row.channel, row.external_id),
        following=row.following,
        followed_at=convert.utc_opt(row.followed_at),
        unfollowed_at=convert.utc_opt(row.unfollowed_at),
        scene=row.scene,
        platform=Platform(row.platform) if row.platform else None,
    )


class SqlContacts:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def _row(self, ref: Ref) -> ChannelContactRow | None:
        stmt = (
            select(T)
            .where(T.channel == ref.channel, T.external_id == ref.external_id)  # type: ignore[arg-type]
            .execution_options(populate_existing=True)  # the upserts below bypass the identity map
        )
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def _read_back(self, ref: Ref) -> Contact:
        row = await self._row(ref)
        assert row is not None, f"contact {ref} vanished after its upsert"
        return _contact(row)

    async def get(self, ref: Ref) -> Contact | None:
        row = await self._row(ref)
        return _contact(row) if row else None

    async def followed(self, ref: Ref, now: datetime, *, scene: str | None = None) -> Contact:
        at = convert.to_utc(now)
        stmt = insert_for(self.s, T).values(
            channel=ref.channel, external_id=ref.external_id, following=True, followed_at=at, scene=scene
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=_KEY,
            set_={"following": True, "followed_at": at, "scene": func.coalesce(stmt.excluded.scene, T.scene)},
        )
        await self.s.execute(stmt)
        return await self._read_back(ref)

    async def unfollowed(self, ref: Ref, now: datetime) -> Contact:
        at = convert.to_utc(now)
        stmt = insert_for(self.s, T).values(
            channel=ref.channel, external_id=ref.external_id, following=False, unfollowed_at=at
        )
        stmt = stmt.on_conflict_do_update(index_elements=_KEY, set_={"following": False, "unfollowed_at": at})
        await self.s.execute(stmt)
        return await self._read_back(ref)

    async def set_platform(self, ref: Ref, platform: Platform) -> None:
        stmt = insert_for(self.s, T).values(
            channel=ref.channel, external_id=ref.external_id, following=False, platform=platform.value
        )
        stmt = stmt.on_conflict_do_update(index_elements=_KEY, set_={"platform": platform.value})
        await self.s.execute(stmt)

    async def count_following(self, channel: str) -> int:
        stmt = select(func.count()).select_from(T).where(T.channel == channel, T.following == True)  # type: ignore[arg-type]
        return int((await self.s.execute(stmt)).scalar_one())
