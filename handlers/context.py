"""What every handler receives: the user, their translator, the open unit of
work, the clock's "now", shared state and the channel's capabilities.

Injected by the dispatcher (aiogram-middleware style) so handlers never reach
for globals, and tests build the same context with a frozen clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.catalog_search import CatalogSearch
from core.channel import Capabilities
from core.events import Sender
from core.i18n import Translator
from core.ports import CommunityGateway, KeyValueStore, PaymentGateway, UnitOfWork
from core.recommendations import LiveModel
from core.replies import Reply
from core.users import User

__all__ = ["AppConfig", "Ctx", "Notice", "Services"]


@dataclass(frozen=True, slots=True)
class AppConfig:
    bot_name: str = "KnowledgeSea"
    support_contact: str = "support@example.com"
    default_timezone: str = "Asia/Shanghai"
    order_ttl: timedelta = timedelta(minutes=30)
    page_size: int = 6
    buy_rate_per_minute: float = 10.0
    invite_ttl: timedelta = timedelta(hours=24)  # one-time community invite links expire after this


@dataclass(slots=True)
class Services:
    """Providers the handlers may call (registered by the adapters at start-up, in ``bot.py``).

    ``gateways`` maps a payment provider name ("telegram_stars", "sandbox") to its
    gateway; ``community`` is the messenger that hosts paid communities, if any;
    ``search`` is the process's live course search (one per process: its index is built once);
    ``recommender`` holds the process's fitted recommender (empty until a refit or a load installs one).
    """

    gateways: dict[str, PaymentGateway] = field(default_factory=dict)
    community: CommunityGateway | None = None
    recommender: LiveModel = field(default_factory=LiveModel)  # the refit job installs the fitted model here
    search: CatalogSearch = field(default_factory=CatalogSearch)


@dataclass(frozen=True, slots=True)
class Notice:
    """A message for another user (or a later one for this user), sent only after the transaction commits."""

    user_id: int
    replies: Sequence[Reply]


@dataclass(slots=True)
class Ctx:
    user: User
    t: Translator
    uow: UnitOfWork
    now: datetime
    kv: KeyValueStore
    caps: Capabilities
    config: AppConfig
    sender: Sender
    first_contact: bool = False
    services: Services = field(default_factory=Services)
    notices: list[Notice] = field(default_factory=list)

    def notify(self, user_id: int, replies: Sequence[Reply]) -> None:
        """Queue a message to ``user_id``; the dispatcher sends it once the event's transaction commits."""
        self.notices.append(Notice(user_id, tuple(replies)))

    @property
    def state_key(self) -> str:
        """Where this user's conversation state lives in the key-value store."""
        return f"conv:{self.sender.ref}"
