"""The dispatcher under concurrency and failure: one transaction per event, nothing half-written."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

import bot
from bots.console import CAPABILITIES
from core.events import Message, Sender
from core.users import Ref
from storage.tables import IdentityRow, UserRow


async def test_simultaneous_first_messages_create_one_user(demo: bot.App) -> None:
    sender = Sender(Ref.parse("console:twin"), "en")
    results = await asyncio.gather(
        *(demo.dispatcher.dispatch(Message(sender, "/catalog"), CAPABILITIES) for _ in range(6))
    )
    for replies in results:
        text = " ".join(getattr(r, "text", "") for r in replies)
        assert "Course catalog" in text, text
    async with demo.db.engine.connect() as conn:
        users = (await conn.execute(select(func.count()).select_from(UserRow))).scalar_one()
        idents = (await conn.execute(select(func.count()).select_from(IdentityRow))).scalar_one()
    assert (users, idents) == (1, 1)


async def test_a_failing_handler_rolls_back_everything(demo: bot.App) -> None:
    sender = Sender(Ref.parse("console:crash"), "en")

    async def boom(ctx: object, args: str) -> list[object]:
        raise RuntimeError("simulated bug")

    demo.dispatcher.router.commands["boom"] = boom  # type: ignore[assignment]
    try:
        replies = await demo.dispatcher.dispatch(Message(sender, "/boom"), CAPABILITIES)
    finally:
        del demo.dispatcher.router.commands["boom"]
    assert "went wrong" in " ".join(getattr(r, "text", "") for r in replies)
    async with demo.db.engine.connect() as conn:
        # the user row created at the start of that event was rolled back with it
        assert (await conn.execute(select(func.count()).select_from(UserRow))).scalar_one() == 0
