"""Conversation flows shared by every messenger.

Handlers take neutral events and return neutral replies; they import only
``core``. :func:`build_router` assembles one router per user journey.
"""

from __future__ import annotations

from handlers import (
    account,
    admin,
    broadcast,
    catalog,
    community,
    info,
    learning,
    purchase,
    recommend,
    subscriptions,
)
from handlers.context import AppConfig, Ctx
from handlers.dispatcher import Dispatcher
from handlers.router import Router

__all__ = ["AppConfig", "Ctx", "Dispatcher", "Router", "build_router"]


def build_router() -> Router:
    root = Router()
    # broadcast first: while a creator composes, their next free text is the broadcast, not a search.
    for module in (broadcast, info, catalog, purchase, learning, account, subscriptions, community, admin, recommend):
        root.include(module.router)
    root.include(broadcast.tracking_router(root))  # bc:<campaign>.<n> runs the button's original action
    return root
