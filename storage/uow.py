"""The SQL unit of work: one session, one transaction, every repository on it.

Leaving the ``async with`` block without :meth:`commit` rolls back, so an
event that fails half-way changes nothing.
"""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.audience_repo import SqlAudiences
from storage.catalog_cache import CatalogCache
from storage.catalog_repo import SqlCatalog
from storage.community_repo import SqlCommunity
from storage.contacts_repo import SqlContacts
from storage.deliveries_repo import SqlDeliveries
from storage.learning_repo import SqlEntitlements, SqlProgress
from storage.orders_repo import SqlOrders
from storage.outbox_repo import SqlOutbox
from storage.recommend_repo import SqlRecommendations
from storage.subscriptions_repo import SqlSubscriptions
from storage.user_cache import UserCache
from storage.users_repo import SqlUsers

__all__ = ["SqlUnitOfWork", "SqlUnitOfWorkFactory"]


class SqlUnitOfWork:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cache: CatalogCache | None = None,
        user_cache: UserCache | None = None,
    ) -> None:
        self._sessions = sessions
        self._cache = cache
        self._user_cache = user_cache
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        s = self._session = self._sessions()
        self.users = SqlUsers(s, self._user_cache)
        self.catalog = SqlCatalog(s, self._cache)
        self.orders = SqlOrders(s)
        self.entitlements = SqlEntitlements(s)
        self.progress = SqlProgress(s)
        self.subscriptions = SqlSubscriptions(s)
        self.community = SqlCommunity(s)
        self.outbox = SqlOutbox(s)
        self.contacts = SqlContacts(s)
        self.deliveries = SqlDeliveries(s)
        self.audiences = SqlAudiences(s)
        self.recommendations = SqlRecommendations(s)
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
        cache = self._user_cache
        if cache is not None and self.users.changed:
            cache.invalidate()
        generation = cache.generation if cache is not None else 0
        await self._session.commit()
        if cache is not None and self.users.changed:
            cache.invalidate()
            self.users.changed = False
        elif cache is not None:
            for ref, user in self.users.created:  # a first contact's next message needn't ask the database
                cache.put(ref, user, generation)
        self.users.created.clear()
        if self.catalog.changed and self._cache is not None:
            self._cache.invalidate()  # and after: readers that loaded the old rows meanwhile can't store them
            self.catalog.changed = False

    async def rollback(self) -> None:
        assert self._session is not None
        await self._session.rollback()


class SqlUnitOfWorkFactory:
    """Makes units of work on one session factory, sharing one process-wide catalog cache."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, catalog_ttl: float = 5.0, user_ttl: float = 60.0
    ) -> None:
        self._sessions = sessions
        self.catalog_cache = CatalogCache(ttl=catalog_ttl) if catalog_ttl > 0 else None
        self.user_cache = UserCache(ttl=user_ttl) if user_ttl > 0 else None

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions, self.catalog_cache, self.user_cache)
