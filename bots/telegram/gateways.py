"""Telegram as a payment gateway (Stars refunds, subscription renewal) and as a community host.

Each operation goes through :func:`bots.telegram.retry.call`; a refusal from
Telegram becomes :class:`core.errors.GatewayError` with Telegram's own
description (safe to show an admin: it never contains the token).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from telegram import Bot
from telegram.error import TelegramError

from bots.telegram import retry
from core.errors import GatewayError
from core.users import Ref

__all__ = ["TelegramCommunity", "TelegramPayments"]

T = TypeVar("T")


async def _call(fn: Callable[[], Awaitable[T]], what: str) -> T:
    try:
        return await retry.call(fn, what=what)
    except TelegramError as exc:
        raise GatewayError(exc.message) from None


def _user_id(ref: Ref) -> int:
    if ref.channel != "telegram" or not ref.external_id.lstrip("-").isdigit():
        raise GatewayError(f"{ref} is not a Telegram user")
    return int(ref.external_id)


def _chat_id(chat_id: str) -> int:
    if not chat_id.lstrip("-").isdigit():
        raise GatewayError(f"{chat_id!r} is not a Telegram chat id")
    return int(chat_id)


class TelegramPayments:
    channel = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def refund(self, ref: Ref, charge_id: str) -> None:
        uid = _user_id(ref)
        await _call(lambda: self.bot.refund_star_payment(uid, charge_id), "refundStarPayment")

    async def set_renewal(self, ref: Ref, charge_id: str, *, enabled: bool) -> None:
        uid = _user_id(ref)
        await _call(
            lambda: self.bot.edit_user_star_subscription(uid, charge_id, is_canceled=not enabled),
            "editUserStarSubscription",
        )


class TelegramCommunity:
    channel = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def invite_link(self, chat_id: str, *, name: str, expires_at: datetime) -> str:
        cid = _chat_id(chat_id)
        link = await _call(
            lambda: self.bot.create_chat_invite_link(cid, expire_date=expires_at, member_limit=1, name=name[:32]),
            "createChatInviteLink",
        )
        return link.invite_link

    async def approve(self, chat_id: str, ref: Ref) -> None:
        cid, uid = _chat_id(chat_id), _user_id(ref)
        await _call(lambda: self.bot.approve_chat_join_request(cid, uid), "approveChatJoinRequest")

    async def decline(self, chat_id: str, ref: Ref) -> None:
        cid, uid = _chat_id(chat_id), _user_id(ref)
        await _call(lambda: self.bot.decline_chat_join_request(cid, uid), "declineChatJoinRequest")

    async def remove(self, chat_id: str, ref: Ref) -> None:
        """Ban (removes them now) then unban (so a renewed member can come back through a new link)."""
        cid, uid = _chat_id(chat_id), _user_id(ref)
        await _call(lambda: self.bot.ban_chat_member(cid, uid), "banChatMember")
        await _call(lambda: self.bot.unban_chat_member(cid, uid, only_if_banned=True), "unbanChatMember")
