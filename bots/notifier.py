"""Proactive messages: deliver replies to a user on whichever messenger can reach them.

A notice (a refund, a community reminder, a renewal problem) is for a
*user*, who may have identities on several messengers; each adapter that
can push messages registers a sender for its channel. Identities the
messenger refused (the user blocked the bot) are skipped until the user
writes again. The delivery engine of issue 5 will add quotas and send
windows; this is the direct path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Protocol

from core.ports import UnitOfWorkFactory
from core.replies import Reply
from core.users import Ref

__all__ = ["ChannelNotifier", "Sender"]

log = logging.getLogger(__name__)


class Sender(Protocol):
    def __call__(self, ref: Ref, replies: Sequence[Reply], *, important: str | None = None) -> Awaitable[bool]: ...


class ChannelNotifier:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self.uow_factory = uow_factory
        self.senders: dict[str, Sender] = {}

    def register(self, channel: str, sender: Sender) -> None:
        self.senders[channel] = sender

    async def notify(self, user_id: int, replies: Sequence[Reply], *, important: str | None = None) -> bool:
        async with self.uow_factory() as uow:
            refs = await uow.users.reachable_refs(user_id)
        for ref in refs:
            send = self.senders.get(ref.channel)
            if send is not None and await send(ref, replies, important=important):
                return True
        log.info("user %s could not be reached on any channel", user_id)
        return False
