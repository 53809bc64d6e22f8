"""Conversation flows shared by every messenger.

Handlers take neutral events and return neutral replies; they import only
``core``. :func:`build_router` assembles one router per user journey.
"""

from __future__ import annotations

from handlers import account, admin, catalog, community, info, learning, purchase, subscriptions
from handlers.context import AppConfig, Ctx
from handlers.dispatcher import Dispatcher
from handlers.router import Router

__all__ = ["AppConfig", "Ctx", "Dispatcher", "Router", "build_router"]


def build_router() -> Router:
    root = Router()
    for module in (info, catalog, purchase, learning, account, subscriptions, community, admin):
        root.include(module.router)
    return root
