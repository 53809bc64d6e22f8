"""What every handler receives: the user, their translator, the open unit of
work, the clock's "now", shared state and the channel's capabilities.

Injected by the dispatcher (aiogram-middleware style) so handlers never reach
for globals, and tests build the same context with a frozen clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.channel import Capabilities
from core.events import Sender
from core.i18n import Translator
from core.ports import KeyValueStore, UnitOfWork
from core.users import User

__all__ = ["AppConfig", "Ctx"]


@dataclass(frozen=True, slots=True)
class AppConfig:
    bot_name: str = "KnowledgeSea"
    support_contact: str = "support@example.com"
    default_timezone: str = "Asia/Shanghai"
    order_ttl: timedelta = timedelta(minutes=30)
    page_size: int = 6
    buy_rate_per_minute: float = 10.0


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

    @property
    def state_key(self) -> str:
        """Where this user's conversation state lives in the key-value store."""
        return f"conv:{self.sender.ref}"
