"""The outbox (storage.outbox_repo) on the real database: deferred messages come back in the order
they were stored, equal to what was stored, per identity, until they are marked delivered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

import bot
from core.accounts import ensure_user
from core.catalog import MediaKind
from core.events import Sender
from core.money import Money
from core.replies import Button, CheckoutAnswer, InvoiceReply, MediaReply, Reply, TextReply
from core.users import Ref
from storage.outbox_repo import UNDECODABLE
from storage.tables import DeferredMessageRow

ALICE = Ref("wechat", "oAbCdEfGhIjKlMnOpQrStUvWxYz01")
BOB = Ref("wechat", "oZyXwVuTsRqPoNmLkJiHgFeDcBa99")
TG = Ref("telegram", "123456")

FIRST: tuple[Reply, ...] = (TextReply("你的订单已支付 ✅", buttons=((Button("开始学习", action="c:python-101"),),)),)
SECOND: tuple[Reply, ...] = (
    TextReply("## 第一课\n\n欢迎！", markdown=True, protect=True),
    MediaReply(MediaKind.VIDEO, "media/ab/lesson1.mp4", "ab" * 32, caption="第一课视频", protect=True),
)
THIRD: tuple[Reply, ...] = (
    InvoiceReply("K7Q2M9X4PA", "会员", "30 天", Money(9900, "CNY"), pay_label="支付 ¥99.00", prompt="点击支付："),
)


async def defer_three(app: bot.App, ref: Ref = ALICE) -> list[int]:
    ids = []
    async with app.uow() as uow:
        for i, replies in enumerate((FIRST, SECOND, THIRD)):
            now = app.clock.now() + timedelta(minutes=i)
            ids.append(await uow.outbox.defer(ref, replies, user_id=None, reason="window_closed", now=now))
        await uow.commit()
    return ids


async def test_pending_returns_what_was_stored_oldest_first(app: bot.App) -> None:
    ids = await defer_three(app)
    async with app.uow() as uow:
        pending = await uow.outbox.pending(ALICE, limit=10)
    assert [d.id for d in pending] == ids
    assert [d.replies for d in pending] == [FIRST, SECOND, THIRD]
    assert all(d.ref == ALICE and d.reason == "window_closed" and d.user_id is None for d in pending)
    assert [d.created_at for d in pending] == [app.clock.now() + timedelta(minutes=i) for i in range(3)]
    assert pending[0].created_at.utcoffset() == timedelta(0)


async def test_order_is_by_creation_time_then_id(app: bot.App) -> None:
    now = app.clock.now()
    async with app.uow() as uow:
        late = await uow.outbox.defer(ALICE, FIRST, user_id=None, reason="quota", now=now + timedelta(hours=1))
        early_a = await uow.outbox.defer(ALICE, SECOND, user_id=None, reason="quota", now=now)
        early_b = await uow.outbox.defer(ALICE, THIRD, user_id=None, reason="quota", now=now)
        await uow.commit()
    async with app.uow() as uow:
        assert [d.id for d in await uow.outbox.pending(ALICE, limit=10)] == [early_a, early_b, late]


async def test_limit(app: bot.App) -> None:
    ids = await defer_three(app)
    async with app.uow() as uow:
        assert [d.id for d in await uow.outbox.pending(ALICE, limit=2)] == ids[:2]
        assert [d.id for d in await uow.outbox.pending(ALICE, limit=1)] == ids[:1]
        assert await uow.outbox.pending(ALICE, limit=0) == []


async def test_delivered_messages_leave_the_queue(app: bot.App) -> None:
    ids = await defer_three(app)
    async with app.uow() as uow:
        await uow.outbox.mark_delivered(ids[:2], app.clock.now() + timedelta(hours=1))
        await uow.commit()
    async with app.uow() as uow:
        assert [d.id for d in await uow.outbox.pending(ALICE, limit=10)] == ids[2:]
        assert await uow.outbox.count_pending(ALICE) == 1
        await uow.outbox.mark_delivered([], app.clock.now())  # nothing to do
        await uow.outbox.mark_delivered(ids, app.clock.now() + timedelta(hours=2))
        await uow.commit()
    async with app.uow() as uow:
        assert await uow.outbox.pending(ALICE, limit=10) == []
        assert await uow.outbox.count_pending(ALICE) == 0


async def test_marking_again_keeps_the_first_delivery_time(app: bot.App) -> None:
    (first, *_) = await defer_three(app)
    t1, t2 = app.clock.now() + timedelta(hours=1), app.clock.now() + timedelta(hours=2)
    async with app.uow() as uow:
        await uow.outbox.mark_delivered([first], t1)
        await uow.outbox.mark_delivered([first], t2)
        await uow.commit()
    async with app.db.sessions() as s:
        row = await s.get(DeferredMessageRow, first)
        assert row is not None and row.delivered_at is not None
        assert row.delivered_at.replace(tzinfo=None) == t1.replace(tzinfo=None)


async def test_nothing_leaves_without_a_commit(app: bot.App) -> None:
    async with app.uow() as uow:
        await uow.outbox.defer(ALICE, FIRST, user_id=None, reason="window_closed", now=app.clock.now())
    async with app.uow() as uow:
        assert await uow.outbox.count_pending(ALICE) == 0


async def test_pending_is_per_identity(app: bot.App) -> None:
    await defer_three(app, ALICE)
    async with app.uow() as uow:
        bob = await uow.outbox.defer(BOB, SECOND, user_id=None, reason="quota", now=app.clock.now())
        tg = await uow.outbox.defer(TG, FIRST, user_id=None, reason="blocked", now=app.clock.now())
        await uow.commit()
    async with app.uow() as uow:
        assert [d.id for d in await uow.outbox.pending(BOB, limit=10)] == [bob]
        assert [d.id for d in await uow.outbox.pending(TG, limit=10)] == [tg]
        assert await uow.outbox.count_pending(ALICE) == 3
        assert await uow.outbox.count_pending(BOB) == 1
        assert await uow.outbox.count_pending(Ref("wechat", "nobody")) == 0
        # the same external id on another channel is another identity
        assert await uow.outbox.pending(Ref("telegram", ALICE.external_id), limit=10) == []


async def test_refs_with_pending(app: bot.App) -> None:
    now = app.clock.now()
    async with app.uow() as uow:
        assert await uow.outbox.refs_with_pending("wechat", limit=10) == []
        await uow.outbox.defer(BOB, FIRST, user_id=None, reason="quota", now=now)
        alice = await uow.outbox.defer(ALICE, FIRST, user_id=None, reason="quota", now=now + timedelta(minutes=1))
        await uow.outbox.defer(BOB, SECOND, user_id=None, reason="quota", now=now + timedelta(minutes=2))
        await uow.outbox.defer(TG, FIRST, user_id=None, reason="blocked", now=now)
        await uow.commit()
    async with app.uow() as uow:
        assert await uow.outbox.refs_with_pending("wechat", limit=10) == [BOB, ALICE]  # the longest waiting first
        assert await uow.outbox.refs_with_pending("wechat", limit=1) == [BOB]
        assert await uow.outbox.refs_with_pending("telegram", limit=10) == [TG]
        assert await uow.outbox.refs_with_pending("console", limit=10) == []
        await uow.outbox.mark_delivered([alice], now + timedelta(hours=1))
        assert await uow.outbox.refs_with_pending("wechat", limit=10) == [BOB]


async def test_a_user_id_is_kept(app: bot.App) -> None:
    async with app.uow() as uow:
        user, _ = await ensure_user(uow, Sender(ALICE, "zh"), now=app.clock.now(), timezone="Asia/Shanghai")
        await uow.outbox.defer(ALICE, FIRST, user_id=user.id, reason="window_closed", now=app.clock.now())
        await uow.commit()
    async with app.uow() as uow:
        (d,) = await uow.outbox.pending(ALICE, limit=10)
    assert d.user_id == user.id


async def test_what_cannot_be_stored_is_refused(app: bot.App) -> None:
    async with app.uow() as uow:
        with pytest.raises(ValueError, match="CheckoutAnswer"):
            await uow.outbox.defer(ALICE, [CheckoutAnswer(ok=True)], user_id=None, reason="x", now=app.clock.now())
        with pytest.raises(ValueError, match="no replies"):
            await uow.outbox.defer(ALICE, [], user_id=None, reason="x", now=app.clock.now())
        with pytest.raises(ValueError, match="reason"):
            await uow.outbox.defer(ALICE, FIRST, user_id=None, reason="x" * 33, now=app.clock.now())
        with pytest.raises(ValueError, match="naive"):
            await uow.outbox.defer(ALICE, FIRST, user_id=None, reason="x", now=app.clock.now().replace(tzinfo=None))
        assert await uow.outbox.count_pending(ALICE) == 0


@pytest.mark.parametrize(
    "payload", ["not json", '{"type": "text"}', '[{"type": "sticker"}]', '[{"type": "text", "text": 1}]', "["]
)
async def test_an_undecodable_row_is_quarantined_and_does_not_block_the_queue(
    app: bot.App, payload: str, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await defer_three(app)
    async with app.db.sessions() as s:  # damage the second message, as a newer version or a bad hand edit might
        row = await s.get(DeferredMessageRow, ids[1])
        assert row is not None
        row.payload = payload
        await s.commit()
    async with app.uow() as uow:
        pending = await uow.outbox.pending(ALICE, limit=2)
        await uow.commit()
    assert [d.id for d in pending] == [ids[0], ids[2]]  # the limit still counts good messages
    assert f"deferred message {ids[1]}" in caplog.text
    async with app.uow() as uow:
        assert await uow.outbox.count_pending(ALICE) == 2
        assert await uow.outbox.refs_with_pending("wechat", limit=10) == [ALICE]
    async with app.db.sessions() as s:
        row = await s.get(DeferredMessageRow, ids[1])
        assert row is not None
        assert row.reason == UNDECODABLE and row.delivered_at == row.created_at and row.payload == payload


async def test_a_queue_of_only_bad_rows_empties(app: bot.App) -> None:
    ids = await defer_three(app)
    async with app.db.sessions() as s:
        rows = (await s.execute(select(DeferredMessageRow))).scalars().all()
        for row in rows:
            row.payload = "garbage"
        await s.commit()
    async with app.uow() as uow:
        assert await uow.outbox.pending(ALICE, limit=1) == []
        await uow.commit()
    async with app.uow() as uow:
        assert await uow.outbox.count_pending(ALICE) == 0
        assert await uow.outbox.refs_with_pending("wechat", limit=10) == []
    assert len(ids) == 3
