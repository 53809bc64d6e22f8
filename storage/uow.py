"""The SQL unit of work: one session, one transaction, every repository on it.

Leaving the ``async with`` block without :meth:`commit` rolls back, so an
event that fails half-way changes nothing.
"""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.catalog_cache import CatalogCache
from storage.catalog_repo import SqlCatalog
from storage.community_repo import SqlCommunity
from storage.learning_repo import SqlEntitlements, SqlProgress
from storage.orders_repo import SqlOrders
from storage.subscriptions_repo import SqlSubscriptions
from storage.users_repo import SqlUsers

__all__ = ["SqlUnitOfWork", "SqlUnitOfWorkFactory"]


class SqlUnitOfWork:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cache: CatalogCache | None = None) -> None:
        self._sessions = sessions
        self._cache = cache
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        s = self._session = self._sessions()
        self.users = SqlUsers(s)
        self.catalog = SqlCatalog(s, self._cache)
        self.orders = SqlOrders(s)
        self.entitlements = SqlEntitlements(s)
        self.progress = SqlProgress(s)
        self.subscriptions = SqlSubscriptions(s)
        self.community = SqlCommunity(s)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        try:
            await self._session.rollback()  # a no-op after commit
        finally:
            await self._session.close()
            self._session = None

    async def commit(self) -> None:
        assert self._session is not None
        if self.catalog.changed and self._cache is not None:
            self._cache.invalidate()  # before: no reader may cache what is being replaced
        await self._session.commit()
        if self.catalog.changed and self._cache is not None:
            self._cache.invalidate()  # and after: readers that loaded the old rows meanwhile can't store them
            self.catalog.changed = False

    async def rollback(self) -> None:
        assert self._session is not None
        await self._session.rollback()


class SqlUnitOfWorkFactory:
    """Makes units of work on one session factory, sharing one process-wide catalog cache."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, catalog_ttl: float = 5.0) -> None:
        self._sessions = sessions
        self.catalog_cache = CatalogCache(ttl=catalog_ttl) if catalog_ttl > 0 else None

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions, self.catalog_cache)
