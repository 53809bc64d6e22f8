"""Telegram under faults: blocked users, flood control, server errors, failing updates, hostile webhooks
and forged buttons. The loop keeps serving everyone; nothing forged opens paid content.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import aiohttp
import pytest
from telegram_support import SECRET, TOKEN, TgHarness, TgUser, telegram_app, text_of

import bot
from bots.telegram import callbacks
from core.clock import FrozenClock
from core.config import Settings
from core.ports import KeyValueStore
from core.users import Ref

PAID_COURSE = "public-speaking"  # drip "all": lesson 1 free, the others paid
PAID_TITLE = "Public Speaking Essentials"
CJK = re.compile(r"[\u4e00-\u9fff]")
ALL_UPDATES = {"message", "callback_query", "pre_checkout_query", "chat_member", "chat_join_request", "my_chat_member"}


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def sends_to(h: TgHarness, chat_id: int) -> int:
    """How many times the bot *tried* to send a message to ``chat_id`` (accepted or refused)."""
    return sum(
        1 for method, p in h.fake.calls if method.lower().startswith("send") and str(p.get("chat_id")) == str(chat_id)
    )


async def buy(user: TgUser, slug: str = PAID_COURSE) -> tuple[str, str]:
    """Buy a course with Stars; (order code, Telegram charge id)."""
    answer = await user.say(f"/buy {slug}")
    invoice = next(m for m in answer if m.get("invoice"))
    code = user.fake.invoices[f"{invoice['chat']['id']}:{invoice['message_id']}"]["payload"]
    result, _ = await user.pay(invoice)
    assert result["ok"], result
    return code, result["charge_id"]


async def reachable(h: TgHarness, telegram_id: int) -> bool:
    async with h.app.uow() as uow:
        user = await uow.users.get_by_ref(Ref("telegram", str(telegram_id)))
        assert user is not None
        return Ref("telegram", str(telegram_id)) in await uow.users.reachable_refs(user.id)


async def paid_lesson(h: TgHarness, slug: str = PAID_COURSE) -> tuple[int, str]:
    """The id of the course's first paid lesson and a line of its body (to check it never leaks)."""
    async with h.app.uow() as uow:
        course = await uow.catalog.get_course(slug)
        assert course is not None
        lesson = next(ls for ls in await uow.catalog.lessons(course.id) if not ls.free)
    lines = [ln.strip() for ln in lesson.body.splitlines() if len(ln.strip()) > 30 and ln[:1].isalpha()]
    line = next(ln for ln in lines if "[" not in ln)
    return lesson.id, re.sub(r"[*_`]", "", line)  # as it reads once the Markdown is rendered


# ------------------------------------------------------------------------------------------------ blocked users


async def test_blocked_user_is_marked_unreachable_and_skipped_until_they_write_again(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann, bob, admin = h.user(1001, name="Ann"), h.user(1002, name="Bob"), h.user(1009, name="Ada")
        code, charge_id = await buy(bob)
        await admin.say("/start")
        await bot.grant(h.app, "telegram:1009", "admin")

        # Bob blocks the bot, then a message of his arrives: handled, the refusal noted, nothing crashes
        h.fake.blocked.add(1002)
        before, tries = len(bob.messages()), sends_to(h, 1002)
        assert await bob.say("/catalog") == []
        assert sends_to(h, 1002) == tries + 1  # one refused attempt: no retries, no apology to a blocked chat
        assert any(m == "sendMessage" and e["error_code"] == 403 for m, _, e in h.fake.errors)
        assert not await reachable(h, 1002)
        assert len(bob.messages()) == before

        # everyone else is still served
        assert "course catalog" in text_of(await ann.say("/catalog")).lower()

        # a notice to Bob (his order refunded by an admin) is not even attempted
        tries = sends_to(h, 1002)
        out = await admin.say(f"/refund {code} blocked the bot")
        assert f"Refunded order {code}" in text_of(out), text_of(out)
        refunds = h.fake.calls_of("refundStarPayment")
        assert len(refunds) == 1
        assert refunds[0]["telegram_payment_charge_id"] == charge_id and int(refunds[0]["user_id"]) == 1002
        assert sends_to(h, 1002) == tries
        assert "/catalog" in text_of(await ann.say("/help"))  # the loop is alive
        assert sends_to(h, 1002) == tries

        # Bob unblocks and writes again: answered, and reachable for notices again
        h.fake.blocked.discard(1002)
        assert "Welcome" in text_of(await bob.say("/start"))
        assert await reachable(h, 1002)
        mine = text_of(await bob.say("/my"))
        assert f"{PAID_TITLE} — 0/4 done, free preview only" in mine, mine  # the refund ended his access


def _my_chat_member(h: TgHarness, user_id: int, old: str, new: str, date: int) -> dict[str, Any]:
    """Telegram's notice that a user stopped (``kicked``) or restarted (``member``) the bot."""
    user = h.fake.users[user_id]
    chat = {"id": user_id, "type": "private", "first_name": user["first_name"]}
    status = {
        "member": {"status": "member", "user": h.fake.bot_user},
        "kicked": {"status": "kicked", "user": h.fake.bot_user, "until_date": 0},
    }
    change = {"chat": chat, "from": user, "date": date, "old_chat_member": status[old], "new_chat_member": status[new]}
    return {"my_chat_member": change}


async def test_a_user_stopping_the_bot_is_skipped_until_they_restart_it(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        carol, admin = h.user(1003, name="Carol"), h.user(1009, name="Ada")
        code, _ = await buy(carol)
        await admin.say("/start")
        await bot.grant(h.app, "telegram:1009", "admin")
        date = int(clock.now().timestamp())

        await h.settle(await h.fake.push_update(_my_chat_member(h, 1003, "member", "kicked", date)))
        h.fake.blocked.add(1003)
        assert not await reachable(h, 1003)
        tries = sends_to(h, 1003)
        assert f"Refunded order {code}" in text_of(await admin.say(f"/refund {code}"))
        assert sends_to(h, 1003) == tries  # the refund notice was not even attempted
        assert len(h.fake.calls_of("refundStarPayment")) == 1

        h.fake.blocked.discard(1003)
        await h.settle(await h.fake.push_update(_my_chat_member(h, 1003, "kicked", "member", date)))
        assert await reachable(h, 1003)
        assert "Welcome" in text_of(await carol.say("/start"))


# ------------------------------------------------------------------------------------------------ flood and errors


async def test_flood_control_and_server_errors_are_retried(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann = h.user(1001)
        await ann.say("/start")

        h.fake.fail_next("sendMessage", status=429, retry_after=1)
        started = time.monotonic()
        out = await ann.say("/help")
        assert time.monotonic() - started >= 1.0  # waited as long as Telegram asked
        assert len(out) == 1 and "/catalog" in text_of(out), text_of(out)
        assert [e["error_code"] for m, _, e in h.fake.errors if m == "sendMessage"] == [429]

        h.fake.fail_next("sendMessage", status=502)
        out = await ann.say("/help")
        assert len(out) == 1 and "/catalog" in text_of(out), text_of(out)
        assert [e["error_code"] for m, _, e in h.fake.errors if m == "sendMessage"] == [429, 502]

        # several 5xx in a row: still delivered, exactly once
        h.fake.fail_next("sendMessage", status=503, times=2)
        out = await ann.say("/plans")
        assert len(out) == 1 and "All-Access" in text_of(out)


async def test_a_failing_update_never_stops_the_loop(demo: bot.App, clock: FrozenClock, kv: KeyValueStore) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann, bob = h.user(1001), h.user(1002, name="Bob")
        await ann.say("/start")

        # Telegram refuses a reply for a reason nobody expects: the user gets an apology, the loop goes on
        h.fake.fail_next("sendMessage", status=400, description="Bad Request: something nobody expected")
        out = await ann.say("/catalog")
        assert "something went wrong" in text_of(out), text_of(out)
        assert "course catalog" in text_of(await ann.say("/catalog")).lower()

        # a payment whose payload names no order (forged on the client): refused, and the next update is served
        answer = await bob.say(f"/buy {PAID_COURSE}")
        invoice = next(m for m in answer if m.get("invoice"))
        h.fake.invoices[f"{invoice['chat']['id']}:{invoice['message_id']}"]["payload"] = "no-such-order-zzz"
        result, out = await bob.pay(invoice)
        assert result["ok"] is False and "invoice is not valid" in (result["error_message"] or ""), result
        assert h.fake.payments == {} and out == []
        assert "Welcome" in text_of(await bob.say("/start"))

        # an update the bot has nothing to do with (a group message): ignored, the next one served
        update = await h.fake.push_update(
            {
                "message": {
                    "message_id": 1,
                    "from": h.fake.users[1002],
                    "chat": {"id": -100777, "type": "supergroup", "title": "Elsewhere"},
                    "date": int(clock.now().timestamp()),
                    "text": "/catalog",
                }
            }
        )
        await h.settle(update)
        assert "course catalog" in text_of(await bob.say("/catalog")).lower()
        assert h.fake.internal_errors == []


# ------------------------------------------------------------------------------------------------ webhook


def _update(update_id: int, user: dict[str, Any], text: str, date: int) -> dict[str, Any]:
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    message = {"message_id": update_id % 10_000, "from": user, "chat": chat, "date": date, "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


async def test_webhook_checks_the_secret_and_the_body(demo: bot.App, clock: FrozenClock, kv: KeyValueStore) -> None:
    async with telegram_app(demo.settings, clock, kv, webhook=True) as h:
        ann = h.user(1001)
        assert h.fake.webhook is not None
        url = h.fake.webhook["url"]
        assert h.webhook_url is not None and url.startswith(h.webhook_url)

        # registered with the secret and every update type the bot handles (chat_member is opt-in)
        assert h.fake.webhook["secret_token"] == SECRET
        assert set(h.fake.webhook["allowed_updates"] or ()) >= ALL_UPDATES
        [set_webhook] = h.fake.calls_of("setWebhook")
        allowed = set_webhook["allowed_updates"]
        assert set(json.loads(allowed) if isinstance(allowed, str) else allowed) >= ALL_UPDATES

        date = int(clock.now().timestamp())
        user = h.fake.users[1001]
        forged = _update(900_001, user, "/help", date)
        async with aiohttp.ClientSession() as http:

            async def post(body: bytes, headers: dict[str, str]) -> int:
                async with http.post(url, data=body, headers={"Content-Type": "application/json", **headers}) as r:
                    await r.read()
                    return r.status

            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            assert await post(json.dumps(forged).encode(), {}) == 403
            assert await post(json.dumps(forged).encode(), {"X-Telegram-Bot-Api-Secret-Token": "wrong-secret"}) == 403
            assert await post(json.dumps(forged).encode(), {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]}) == 403
            assert await post(b"not json at all", {}) == 403  # the secret is checked first
            assert await post(b"not json at all", good) == 400
            assert await post(b"[1, 2, 3]", good) == 400
            assert await post(b'{"hello": "world"}', good) == 400
            assert await post(b'{"update_id": "seven"}', good) == 400

            # a real update through Telegram itself is served; the refused ones never were
            assert "Welcome" in text_of(await ann.say("/start"))
            assert 900_001 not in h.channel.processed

            # the right secret: accepted and handled
            before = len(ann.messages())
            assert await post(json.dumps(_update(900_002, user, "/help", date)).encode(), good) == 200
            await h.fake.wait_for(lambda: 900_002 in h.channel.processed)
            [help_text] = [m["text"] for m in ann.messages()[before:]]
            assert "/catalog" in help_text
            assert ann.texts().count(help_text) == 1  # the forged /help was never answered
            assert 900_001 not in h.channel.processed


def test_a_webhook_without_a_secret_is_refused_at_start(settings: Settings) -> None:
    changes = {
        "telegram_bot_token": TOKEN,
        "public_base_url": "https://bot.example.com",
        "telegram_webhook_secret": None,
    }
    unsafe = Settings(_env_file=None, **{**settings.model_dump(), **changes})  # type: ignore[call-arg]
    with pytest.raises(bot.CliError, match="TELEGRAM_WEBHOOK_SECRET"):
        bot.build_app(unsafe)


async def test_commands_are_registered_in_english_and_chinese(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        commands = h.fake.commands
        assert {None, "en", "zh"} <= set(commands)
        for code in (None, "en", "zh"):
            names = [c["command"] for c in commands[code]]
            assert {"start", "catalog", "my", "next", "plans", "help", "terms", "paysupport"} <= set(names)
        english = {c["command"]: c["description"] for c in commands["en"]}
        chinese = {c["command"]: c["description"] for c in commands["zh"]}
        assert english == {c["command"]: c["description"] for c in commands[None]}
        assert not any(CJK.search(d) for d in english.values())
        assert all(CJK.search(d) for d in chinese.values()), chinese
        assert english["catalog"] != chinese["catalog"]
        assert CJK.search(h.fake.descriptions.get("zh", "")) and h.fake.descriptions.get("en")


# ------------------------------------------------------------------------------------------------ forged buttons


async def test_forged_buttons_never_open_paid_content(demo: bot.App, clock: FrozenClock, kv: KeyValueStore) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann, mallory = h.user(1001, name="Ann"), h.user(1002, name="Mallory")
        await buy(ann)
        lesson_id, secret_line = await paid_lesson(h)
        anchor = (await mallory.say("/start"))[-1]

        def leaked(messages: list[dict[str, Any]]) -> bool:
            return secret_line in text_of(messages) or any(m.get("has_protected_content") for m in messages)

        for data in (
            "~notatoken",
            "~",
            "buy:../../etc",
            "l:999999",
            "l:-1",
            "done:999999",
            "zzz:1",
            "sub:1.0",
            "x" * 64,
        ):
            out = await mallory.press_data(anchor, data)
            text = text_of(out)
            assert out and not leaked(out), (data, text)
            assert "expired" in text or "not found" in text.lower() or "🔒" in text, (data, text)

        # Mallory forges the button of a paid lesson: locked, with a Buy button, no content
        out = await mallory.press_data(anchor, f"l:{lesson_id}")
        assert not leaked(out) and "🔒" in text_of(out), text_of(out)
        assert any("Buy" in b["text"] for m in out for b in buttons(m))
        out = await mallory.press_data(anchor, f"done:{lesson_id}")
        assert not leaked(out)

        # Ann's subscription-less account cannot be touched either
        assert h.fake.calls_of("editUserStarSubscription") == []

        # a token issued to Ann (for a lesson she owns) opens it for her, and for nobody else
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(callbacks, "MAX_BYTES", 0)  # force the server-side token form for this one button
            token = await h.channel.codec.encode(f"l:{lesson_id}", 1001)
        assert token.startswith("~")
        out = await mallory.press_data(anchor, token)
        assert "expired" in text_of(out) and not leaked(out), text_of(out)
        mine = (await ann.say("/start"))[-1]
        out = await ann.press_data(mine, token)
        assert secret_line in text_of(out), text_of(out)
        assert any(m.get("has_protected_content") for m in out)

        # and the loop kept serving
        assert "course catalog" in text_of(await mallory.say("/catalog")).lower()
