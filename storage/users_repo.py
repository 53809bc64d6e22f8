"""User repository: people, their per-channel identities (REFs) and roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from core.users import Ref, Role, User
from storage import convert
from storage.tables import IdentityRow, UserRow
from storage.user_cache import UserCache

__all__ = ["SqlUsers"]

_users, _identities = UserRow.__table__, IdentityRow.__table__  # type: ignore[attr-defined]
_USER_BY_REF = (
    select(*_users.c)
    .join(_identities, _identities.c.user_id == _users.c.id)
    .where(_identities.c.channel == bindparam("channel"), _identities.c.external_id == bindparam("external_id"))
)


class SqlUsers:
    def __init__(self, session: AsyncSession, cache: UserCache | None = None) -> None:
        self.s = session
        self.cache = cache
        self.changed = False  # a user row was updated: the unit of work invalidates the cache on commit
        self.created: list[tuple[Ref, User]] = []  # cached once the creating transaction commits

    async def get(self, user_id: int) -> User | None:
        row = await self.s.get(UserRow, user_id)
        return convert.user(row) if row else None

    async def get_by_ref(self, ref: Ref) -> User | None:
        """Runs for every inbound event: served from the process's user cache when it can be; otherwise the
        statement is built once and rows skip the ORM."""
        if self.cache is not None:
            cached = self.cache.get(ref)
            if cached is not None:
                return cached
            generation = self.cache.generation
        row = (await self.s.execute(_USER_BY_REF, {"channel": ref.channel, "external_id": ref.external_id})).first()
        user = convert.user(row) if row else None  # type: ignore[arg-type]
        if user is not None and self.cache is not None:
            self.cache.put(ref, user, generation)
        return user

    async def get_by_ref_code(self, code: str) -> User | None:
        row = (await self.s.execute(select(UserRow).where(UserRow.ref_code == code))).scalar_one_or_none()
        return convert.user(row) if row else None

    async def create(
        self, ref: Ref, *, ref_code: str, role: Role, lang: str, timezone: str, now: datetime, display_name: str
    ) -> User:
        row = UserRow(
            ref_code=ref_code,
            role=int(role),
            lang=lang,
            timezone=timezone,
            display_name=display_name[:128],
            created_at=convert.to_utc(now),
        )
        try:
            self.s.add(row)
            await self.s.flush()
            assert row.id is not None
            self.s.add(IdentityRow(user_id=row.id, channel=ref.channel, external_id=ref.external_id))
            await self.s.flush()
        except IntegrityError as exc:
            raise Conflict(f"user {ref} was created concurrently") from exc
        user = convert.user(row)
        self.created.append((ref, user))
        return user

    async def refs(self, user_id: int) -> list[Ref]:
        rows = (await self.s.execute(select(IdentityRow).where(IdentityRow.user_id == user_id))).scalars().all()
        return [Ref(r.channel, r.external_id) for r in rows]

    async def _set(self, user_id: int, **values: object) -> None:
        self.changed = True
        await self.s.execute(update(UserRow).where(UserRow.id == user_id).values(**values))  # type: ignore[arg-type]

    async def set_lang(self, user_id: int, lang: str) -> None:
        await self._set(user_id, lang=lang)

    async def set_timezone(self, user_id: int, timezone: str) -> None:
        await self._set(user_id, timezone=timezone)

    async def set_role(self, user_id: int, role: Role) -> None:
        await self._set(user_id, role=int(role))

    async def set_referred_by(self, user_id: int, referrer_id: int) -> None:
        await self._set(user_id, referred_by=referrer_id)

    async def set_unreachable(self, ref: Ref, at: datetime | None) -> None:
        await self.s.execute(
            update(IdentityRow)
            .where(IdentityRow.channel == ref.channel, IdentityRow.external_id == ref.external_id)  # type: ignore[arg-type]
            .values(unreachable_at=at and convert.to_utc(at))
        )

    async def reachable_refs(self, user_id: int) -> list[Ref]:
        rows = (
            (
                await self.s.execute(
                    select(IdentityRow).where(IdentityRow.user_id == user_id, IdentityRow.unreachable_at.is_(None))  # type: ignore[union-attr]
                )
            )
            .scalars()
            .all()
        )
        return [Ref(r.channel, r.external_id) for r in rows]

    async def with_role(self, role: Role) -> list[User]:
        stmt = select(UserRow).where(UserRow.role >= int(role)).order_by(UserRow.id)  # type: ignore[arg-type]
        return [convert.user(r) for r in (await self.s.execute(stmt)).scalars().all()]
