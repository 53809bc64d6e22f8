"""Helpers of the recommendation tests (importable as ``recommend_support``): buying, signals, a fake sender."""

from __future__ import annotations

from collections.abc import Sequence

from support import checkout, confirm

import bot
from core.delivery import Outcome, SendResult
from core.ports import SendLimits
from core.purchasing import refund_order
from core.recommendations import record_like, record_search, record_view
from core.replies import Reply, TextReply
from core.users import Ref, User

__all__ = ["FakeSender", "buy", "course_id", "like", "refund", "search", "shown", "view"]


async def course_id(app: bot.App, slug: str) -> int:
    async with app.uow() as uow:
        course = await uow.catalog.get_course(slug)
    assert course is not None, slug
    return course.id


async def buy(app: bot.App, user: User, *slugs: str) -> None:
    """Pay for each course through the real checkout and confirmation (a purchase signal each)."""
    for slug in slugs:
        await confirm(app, await checkout(app, user, slug), f"ch-{user.id}-{slug}")


async def refund(app: bot.App, user: User, slug: str) -> None:
    cid = await course_id(app, slug)
    async with app.uow() as uow:
        order = next(o for o in await uow.orders.for_user(user.id) if o.item_id == cid)
        await refund_order(uow, order.code, app.clock.now(), reason="test")
        await uow.commit()


async def view(app: bot.App, user: User, slug: str) -> None:
    cid = await course_id(app, slug)
    async with app.uow() as uow:
        await record_view(uow, user.id, cid, app.clock.now())
        await uow.commit()


async def like(app: bot.App, user: User, slug: str) -> bool:
    cid = await course_id(app, slug)
    async with app.uow() as uow:
        liked = await record_like(uow, user.id, cid, app.clock.now())
        await uow.commit()
    return liked


async def search(app: bot.App, user: User, query: str) -> None:
    async with app.uow() as uow:
        await record_search(uow, user.id, query, app.clock.now())
        await uow.commit()


def shown(output: str) -> list[str]:
    """The numbered course lines of a /recommend answer or a push: ``["1. Title", …]`` without the reasons."""
    return [line for line in output.splitlines() if line[:1].isdigit() and ". " in line[:4]]


class FakeSender:
    """The console's bulk lane for the delivery engine: records what it sends (like the drip tests' sender)."""

    channel = "console"

    def __init__(self) -> None:
        self.sent: list[tuple[Ref, tuple[Reply, ...]]] = []

    def limits(self, *, paid: bool) -> SendLimits:
        return SendLimits("console", 1000, 1000)

    async def send_bulk(
        self, ref: Ref, replies: Sequence[Reply], *, paid: bool = False, important: str | None = None
    ) -> SendResult:
        self.sent.append((ref, tuple(replies)))
        return SendResult(Outcome.SENT)

    def texts(self) -> dict[str, str]:
        """Who got what: console user -> the push's text."""
        out: dict[str, str] = {}
        for ref, replies in self.sent:
            first = replies[0]
            assert isinstance(first, TextReply)
            out[ref.external_id] = first.text
        return out
