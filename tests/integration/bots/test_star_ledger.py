"""StarLedger: the real python-telegram-bot ``Bot`` reading ``getStarTransactions`` over HTTP from the
in-repo fake Bot API, after real Stars payments and a refund made through the same fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes.telegram_api import FakeBotAPI
from telegram import Bot, LabeledPrice

from bots.telegram.ledger import StarLedger
from core.errors import GatewayError
from core.money import Money

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeBotAPI, Clock]]:
    clock = Clock()
    api = FakeBotAPI(clock=clock)
    await api.start()
    try:
        yield api, clock
    finally:
        await api.stop()


@pytest.fixture
async def tg(fake: tuple[FakeBotAPI, Clock]) -> AsyncIterator[Bot]:
    api, _ = fake
    async with Bot(api.token, base_url=api.base_url) as bot:
        yield bot


async def stars_payment(api: FakeBotAPI, bot: Bot, user_id: int, payload: str, stars: int) -> str:
    """The user pays a Stars invoice the bot sent; the bot accepts the pre-checkout query. Returns the charge id."""
    api.add_user(user_id)
    message = await bot.send_invoice(
        chat_id=user_id,
        title="Club Notes",
        description="Notes for members",
        payload=payload,
        currency="XTR",
        prices=[LabeledPrice("Club Notes", stars)],
    )
    paying = asyncio.create_task(api.pay(user_id, {"chat": {"id": user_id}, "message_id": message.message_id}))
    offset = None
    while True:
        updates = await bot.get_updates(offset=offset, timeout=1)
        for update in updates:
            offset = update.update_id + 1
            if update.pre_checkout_query is not None:
                await bot.answer_pre_checkout_query(update.pre_checkout_query.id, ok=True)
                result: dict[str, Any] = await paying
                assert result["ok"], result
                await bot.get_updates(offset=offset, timeout=0)  # confirm what was read
                return str(result["charge_id"])


async def test_payments_and_refunds_are_read_from_the_ledger(fake: tuple[FakeBotAPI, Clock], tg: Bot) -> None:
    api, clock = fake
    first = await stars_payment(api, tg, 42, "order-one", 100)
    clock.at = T0 + timedelta(hours=1)
    second = await stars_payment(api, tg, 43, "order-two", 250)
    clock.at = T0 + timedelta(hours=2)
    assert await tg.refund_star_payment(42, first)

    entries = await StarLedger(tg).entries(T0 - timedelta(days=1))
    assert [(e.charge_id, e.refund, e.user_external_id, e.amount, e.payload) for e in entries] == [
        (first, False, "42", Money(100, "XTR"), "order-one"),
        (second, False, "43", Money(250, "XTR"), "order-two"),
        (first, True, "42", Money(100, "XTR"), "order-one"),
    ]
    assert [e.at for e in entries] == [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    assert all(e.at.tzinfo is not None for e in entries)


async def test_pages_are_followed_and_old_entries_left_out(fake: tuple[FakeBotAPI, Clock], tg: Bot) -> None:
    api, clock = fake
    charges = []
    for i in range(5):
        clock.at = T0 + timedelta(hours=i)
        charges.append(await stars_payment(api, tg, 50 + i, f"order-{i}", 10 + i))
    entries = await StarLedger(tg, page_size=2).entries(T0 + timedelta(hours=2))
    assert [e.charge_id for e in entries] == charges[2:]
    offsets = [int(p.get("offset") or 0) for p in api.calls_of("getStarTransactions")]
    assert offsets == [0, 2, 4]  # oldest-first listing: read to the end


async def test_a_newest_first_listing_stops_once_past_since(fake: tuple[FakeBotAPI, Clock], tg: Bot) -> None:
    """Telegram's own clients list Stars history newest first; the ledger need not read all of it then."""
    api, clock = fake
    charges = []
    for i in range(6):
        clock.at = T0 + timedelta(days=i)
        charges.append(await stars_payment(api, tg, 60 + i, f"order-{i}", 5))
    api.star_transactions.reverse()
    entries = await StarLedger(tg, page_size=2).entries(T0 + timedelta(days=4))
    assert [e.charge_id for e in entries] == charges[4:]
    assert len(api.calls_of("getStarTransactions")) == 2  # the second page already reached older days


async def test_other_star_transactions_are_ignored(fake: tuple[FakeBotAPI, Clock], tg: Bot) -> None:
    api, _ = fake
    charge = await stars_payment(api, tg, 42, "order-one", 100)
    stamp = int(T0.timestamp())
    api.star_transactions += [
        {"id": "wd1", "amount": 500, "date": stamp, "receiver": {"type": "fragment"}},
        {"id": "ads1", "amount": 50, "date": stamp, "receiver": {"type": "telegram_ads"}},
        {
            "id": "pm1",
            "amount": 7,
            "date": stamp,
            "source": {"type": "user", "transaction_type": "paid_media_payment", "user": api.users[42]},
        },
    ]
    entries = await StarLedger(tg).entries(T0 - timedelta(hours=1))
    assert [e.charge_id for e in entries] == [charge]


async def test_an_unreachable_api_is_a_gateway_error(fake: tuple[FakeBotAPI, Clock], tg: Bot) -> None:
    api, _ = fake
    api.fail_next("getStarTransactions", status=500)
    with pytest.raises(GatewayError, match="getStarTransactions failed"):
        await StarLedger(tg).entries(T0)
