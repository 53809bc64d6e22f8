"""The fake Telegram Bot API over real HTTP: python-telegram-bot's ``Bot`` (and ``Application``) against
``fakes.telegram_api.FakeBotAPI``, plus raw aiohttp requests where PTB would refuse to send bad input.

These tests pin down that the fake answers like Telegram (so PTB parses every result) and fails like
Telegram (so rendering and payment bugs fail the app's tests).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import telegram
from aiohttp import web
from fakes.telegram_api import FakeBotAPI, InviteLinkRefused
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, CommandHandler, ContextTypes

USER = 42
GROUP = -1001234567890


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    api.add_user(USER, first_name="Ann", username="ann")
    yield api
    await api.stop()
    assert not api.internal_errors, api.internal_errors


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


async def raw(fake: FakeBotAPI, method: str, params: dict[str, Any] | None = None, **kw: Any) -> tuple[int, Any]:
    """POST a JSON body (or ``data=`` form) straight to the fake."""
    token = kw.pop("token", fake.token)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}{token}/{method}", json=params, **kw) as resp,
    ):
        return resp.status, await resp.json()


def tg(message: str) -> re.Pattern[str]:
    """Match a Telegram error message (PTB re-capitalizes it, hence case-insensitive)."""
    return re.compile(re.escape(message), re.IGNORECASE)


def keyboard(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Buy", callback_data=data)]])


async def next_updates(bot: telegram.Bot, offset: int | None = None) -> tuple[Update, ...]:
    return await bot.get_updates(offset=offset, timeout=1, allowed_updates=Update.ALL_TYPES)


# ---------------------------------------------------------------- protocol


async def test_get_me_and_protocol_errors(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "ks_test_bot", True)

    assert await raw(fake, "getMe", token="123456:WRONG") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    with pytest.raises(InvalidToken):
        async with telegram.Bot("1:WRONG", base_url=fake.base_url) as wrong:
            await wrong.get_me()
    assert await raw(fake, "sendTelepathy") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )
    status, body = await raw(fake, "SENDMESSAGE", {"chat_id": USER, "text": "case-insensitive"})
    assert status == 200 and body["result"]["text"] == "case-insensitive"
    status, body = await raw(fake, "sendmessage", data={"chat_id": str(USER), "text": "123"})
    assert status == 200 and body["result"]["text"] == "123"
    assert fake.calls[-1] == ("sendmessage", {"chat_id": USER, "text": "123"})


# ---------------------------------------------------------------- text and HTML


async def test_send_message_with_html_entities_escapes_and_emoji(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    html = '😀 <b>Python &amp; AI</b> — <a href="https://example.com/c?id=1&amp;x=2">open</a> &lt;3'
    message = await bot.send_message(
        USER, html, parse_mode="HTML", reply_markup=keyboard("buy:1"), protect_content=True
    )
    assert message.text == "😀 Python & AI — open <3"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bold", 3, 11), ("text_link", 17, 4)]
    assert message.entities[1].url == "https://example.com/c?id=1&x=2"
    assert message.reply_markup == keyboard("buy:1")
    assert message.has_protected_content
    sent = fake.sent[-1]
    assert sent["_method"] == "sendMessage" and sent["_params"]["parse_mode"] == "HTML"
    assert fake.texts_to(USER) == ["😀 Python & AI — open <3"]


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</i>", "Unexpected end tag at byte offset 1"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("Tom & Jerry", "Can't find end of the entity starting at byte offset 4"),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<code><b>x</b></code>", 'Tag "b" is not allowed inside "code"'),
        ('<a href="https://a.io"><a href="https://b.io">x</a></a>', "Nested links are not allowed"),
    ],
)
async def test_html_errors_fail_like_telegram(fake: FakeBotAPI, bot: telegram.Bot, html: str, error: str) -> None:
    with pytest.raises(BadRequest, match=tg("can't parse entities")):
        await bot.send_message(USER, html, parse_mode="HTML")
    description = fake.errors[-1][2]["description"]
    assert description.startswith("Bad Request: can't parse entities: ") and error in description
    assert fake.sent == []


async def test_markdown_v2_reserved_character(bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match=tg("Character '.' is reserved and must be escaped with the preceding '\\'")):
        await bot.send_message(USER, "*Price*: 10.5", parse_mode="MarkdownV2")
    message = await bot.send_message(USER, r"*Price*: 10\.5", parse_mode="MarkdownV2")
    assert message.text == "Price: 10.5"


async def test_text_and_caption_limits_count_utf16_units(bot: telegram.Bot) -> None:
    assert len((await bot.send_message(USER, "a" * 4096)).text) == 4096
    assert (await bot.send_message(USER, "😀" * 2048)).text == "😀" * 2048  # 4096 UTF-16 units
    assert (await bot.send_message(USER, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")).text == "a" * 4096
    for too_long in ("a" * 4097, "😀" * 2048 + "a"):
        with pytest.raises(BadRequest, match=tg("message is too long")):
            await bot.send_message(USER, too_long)
    with pytest.raises(BadRequest, match=tg("message text is empty")):
        await bot.send_message(USER, "<b> </b>\n", parse_mode="HTML")
    assert (await bot.send_photo(USER, b"img", caption="😀" * 512)).caption == "😀" * 512
    with pytest.raises(BadRequest, match=tg("message caption is too long")):
        await bot.send_photo(USER, b"img", caption="😀" * 512 + "a")


async def test_callback_data_is_limited_to_64_bytes(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    ok = "é" * 32  # 64 bytes in UTF-8
    message = await bot.send_message(USER, "pick", reply_markup=keyboard(ok))
    assert message.reply_markup == keyboard(ok)
    with pytest.raises(BadRequest, match=tg("BUTTON_DATA_INVALID")):
        await bot.send_message(USER, "pick", reply_markup=keyboard(ok + "a"))
    bad_url = InlineKeyboardMarkup([[InlineKeyboardButton("Site", url="javascript:alert(1)")]])
    with pytest.raises(BadRequest, match=tg("BUTTON_URL_INVALID")):
        await bot.send_message(USER, "pick", reply_markup=bad_url)
    too_many = {"inline_keyboard": [[{"text": str(i), "callback_data": str(i)}] for i in range(101)]}
    status, body = await raw(fake, "sendMessage", {"chat_id": USER, "text": "x", "reply_markup": too_many})
    assert status == 400 and body["description"] == "Bad Request: reply markup is too long"
    text_only = {"inline_keyboard": [[{"text": "no action"}]]}
    status, body = await raw(fake, "sendMessage", {"chat_id": USER, "text": "x", "reply_markup": text_only})
    assert status == 400 and "Text buttons are unallowed" in body["description"]


async def test_edit_rules(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    message = await bot.send_message(USER, "v1", reply_markup=keyboard("a"))
    with pytest.raises(BadRequest, match=tg("message is not modified")):
        await bot.edit_message_text("v1", USER, message.message_id, reply_markup=keyboard("a"))
    edited = await bot.edit_message_text("<i>v2</i>", USER, message.message_id, parse_mode="HTML")
    assert edited.text == "v2" and edited.reply_markup is None and edited.edit_date is not None
    with pytest.raises(BadRequest, match=tg("message to edit not found")):
        await bot.edit_message_text("x", USER, 999)
    user_message = await fake.send_text(USER, "hello")
    with pytest.raises(BadRequest, match=tg("message to edit not found")):
        await bot.edit_message_text("x", USER, user_message["message"]["message_id"])
    await bot.edit_message_reply_markup(USER, message.message_id, reply_markup=keyboard("b"))
    assert fake.texts_to(USER) == ["v1", "v2", "v2"]
    assert [m.get("_edited", False) for m in fake.messages_to(USER)] == [False, True, True]
    assert await bot.delete_message(USER, message.message_id)
    with pytest.raises(BadRequest, match=tg("message to delete not found")):
        await bot.delete_message(USER, message.message_id)


async def test_press_and_answer_callback_query_once(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    message = await bot.send_message(USER, "pick", reply_markup=keyboard("buy:7"))
    await fake.press_button(USER, message.message_id, "Buy")
    (update,) = await next_updates(bot)
    assert update.callback_query.data == "buy:7" and update.callback_query.message.message_id == message.message_id
    assert await update.callback_query.answer("Done")
    with pytest.raises(BadRequest, match=tg("query is too old and response timeout expired or query ID is invalid")):
        await update.callback_query.answer("again")
    with pytest.raises(BadRequest, match=tg("query is too old")):
        await bot.answer_callback_query("nope")
    assert fake.answered_callbacks[0]["text"] == "Done"


async def test_unknown_not_started_and_blocked_users(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match=tg("chat not found")):
        await bot.send_message(777, "hi")
    fake.add_user(778, started=False)
    with pytest.raises(BadRequest, match=tg("chat not found")):
        await bot.send_message(778, "hi")
    fake.blocked.add(USER)
    with pytest.raises(Forbidden, match=tg("bot was blocked by the user")):
        await bot.send_message(USER, "hi")
    status, body = await raw(fake, "sendPhoto", {"chat_id": USER, "photo": "https://example.com/a.jpg"})
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB reads retry_after itself
async def test_fail_next_injects_429_and_5xx(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    fake.fail_next("sendMessage", retry_after=3)
    status, body = await raw(fake, "sendMessage", {"chat_id": USER, "text": "x"})
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    fake.fail_next("sendMessage", retry_after=5)
    with pytest.raises(RetryAfter, match="Retry in 5 seconds"):
        await bot.send_message(USER, "x")
    fake.fail_next("sendMessage", status=502, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match=tg("Bad Gateway")):
            await bot.send_message(USER, "x")
    assert (await bot.send_message(USER, "finally")).text == "finally"


# ---------------------------------------------------------------- files


async def test_uploads_get_new_file_ids_and_can_be_reused(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    first = await bot.send_document(
        USER, b"%PDF-1.4 lesson", filename="lesson1.pdf", caption="<b>L1</b>", parse_mode="HTML"
    )
    assert first.document.file_name == "lesson1.pdf" and first.caption == "L1"
    assert (fake.uploads, fake.upload_bytes) == (1, len(b"%PDF-1.4 lesson"))
    again = await bot.send_document(USER, first.document.file_id)
    assert again.document.file_id == first.document.file_id and fake.uploads == 1
    second = await bot.send_document(USER, b"%PDF-1.4 lesson", filename="lesson1.pdf")
    assert second.document.file_id != first.document.file_id
    assert second.document.file_unique_id != first.document.file_unique_id

    audio = await bot.send_audio(USER, b"ID3", duration=61, title="Intro")
    assert audio.audio.to_dict()["duration"] == 61 and audio.audio.title == "Intro"
    video = await bot.send_video(USER, b"mp4", width=640, height=360)
    assert (video.video.width, video.video.height) == (640, 360)
    voice = await bot.send_voice(USER, b"ogg")
    assert voice.voice.file_id
    animation = await bot.send_animation(USER, b"gif")
    assert animation.animation.file_id == animation.document.file_id
    photo = await bot.send_photo(USER, b"png")
    assert len(photo.photo) == 2 and photo.photo[-1].width > photo.photo[0].width

    with pytest.raises(BadRequest, match=tg("wrong file identifier/HTTP URL specified")):
        await bot.send_document(USER, "BQACNeverIssued")
    with pytest.raises(BadRequest, match=tg("can't use file of type Photo as Audio")):
        await bot.send_audio(USER, photo.photo[-1].file_id)

    file = await bot.get_file(first.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 lesson"


async def test_send_media_group(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    photo = await bot.send_photo(USER, b"png")
    album = await bot.send_media_group(
        USER,
        [
            telegram.InputMediaPhoto(b"one", caption="<b>1</b>", parse_mode="HTML"),
            telegram.InputMediaVideo(b"two"),
            telegram.InputMediaPhoto(photo.photo[-1].file_id),
        ],
    )
    assert len(album) == 3 and len({m.media_group_id for m in album}) == 1
    assert album[0].caption == "1" and album[1].video is not None
    assert album[2].photo[-1].file_id == photo.photo[-1].file_id
    assert fake.uploads == 3

    with pytest.raises(BadRequest, match=tg("audio can't be mixed with other media types")):
        await bot.send_media_group(USER, [telegram.InputMediaAudio(b"a"), telegram.InputMediaPhoto(b"p")])
    one = [{"type": "photo", "media": photo.photo[-1].file_id}]
    status, body = await raw(fake, "sendMediaGroup", {"chat_id": USER, "media": one})
    assert status == 400 and "at least 2" in body["description"]
    status, body = await raw(fake, "sendMediaGroup", {"chat_id": USER, "media": one * 11})
    assert status == 400 and "too many" in body["description"]
    missing = [{"type": "photo", "media": "attach://nothing"}, *one]
    status, body = await raw(fake, "sendMediaGroup", {"chat_id": USER, "media": missing})
    assert (status, body["description"]) == (400, "Bad Request: wrong file identifier/HTTP URL specified")


# ---------------------------------------------------------------- updates: polling and webhooks


async def test_get_updates_offset_limit_and_long_poll(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    for text in ("one", "two", "three"):
        await fake.send_text(USER, text)
    first = await bot.get_updates(limit=2, timeout=0)
    assert [u.message.text for u in first] == ["one", "two"]
    rest = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert [u.message.text for u in rest] == ["three"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == ()

    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(offset=rest[-1].update_id + 1, timeout=5))
    await asyncio.sleep(0.05)
    await fake.send_text(USER, "/start ref_1")
    (update,) = await poll
    assert time.monotonic() - started < 1.0
    assert update.message.text == "/start ref_1" and update.message.entities[0].type == "bot_command"

    started = time.monotonic()
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0.2) == ()
    assert 0.15 < time.monotonic() - started < 1.0


async def test_resend_redelivers_the_same_update(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    update = await fake.send_text(USER, "pay me")
    (got,) = await bot.get_updates(timeout=0)
    assert await bot.get_updates(offset=got.update_id + 1, timeout=0) == ()
    await fake.resend(update)
    (again,) = await bot.get_updates(offset=got.update_id + 1, timeout=0)
    assert again.update_id == got.update_id and again.message.text == "pay me"


async def test_allowed_updates_default_leaves_out_chat_member(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    fake.add_group(GROUP)
    await fake.join_directly(USER, GROUP)
    await fake.send_text(USER, "hi")
    assert [u.message.text for u in await bot.get_updates(timeout=0)] == ["hi"]
    await fake.join_directly(7, GROUP)
    (update,) = await bot.get_updates(timeout=0, allowed_updates=["chat_member"])
    assert update.chat_member.new_chat_member.status == "member"


async def test_webhook_delivery_with_secret_retries_and_conflict(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    statuses = [500]  # the first delivery fails once

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response(status=statuses.pop(0) if statuses else 200)

    app = web.Application()
    app.router.add_post("/tg", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with pytest.raises(BadRequest, match=tg("HTTPS URL must be provided")):
            await bot.set_webhook("http://example.com/tg")
        with pytest.raises(BadRequest, match=tg("secret token contains unallowed characters")):
            await bot.set_webhook(f"http://127.0.0.1:{port}/tg", secret_token="bad secret!")
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/tg", secret_token="s3cret_-X")
        info = await bot.get_webhook_info()
        assert info.url == f"http://127.0.0.1:{port}/tg" and info.pending_update_count == 0

        update = await fake.send_text(USER, "via webhook")
        assert [secret for secret, _ in received] == ["s3cret_-X", "s3cret_-X"]
        assert received[-1][1] == update
        assert fake.webhook_errors[0]["status"] == 500 and fake.webhook_deliveries == 1

        with pytest.raises(telegram.error.Conflict, match=tg("can't use getUpdates method while webhook is active")):
            await bot.get_updates(timeout=0)
        status, body = await raw(fake, "getUpdates")
        assert status == 409 and body["error_code"] == 409

        assert await bot.delete_webhook()
        await fake.send_text(USER, "polled")
        assert [u.message.text for u in await bot.get_updates(timeout=0)] == ["polled"]
    finally:
        await runner.cleanup()


async def test_application_polling_end_to_end(fake: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html(f"<b>Welcome</b>, {' '.join(context.args or [])}")

    app = Application.builder().token(fake.token).base_url(fake.base_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        await fake.send_text(USER, "/start friend")
        await fake.wait_for(lambda: fake.texts_to(USER) == ["Welcome, friend"], timeout=3)
        await app.updater.stop()
        await app.stop()
    assert fake.messages_to(USER)[0]["entities"] == [{"type": "bold", "offset": 0, "length": 7}]


async def test_wait_for_fails_with_a_summary(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    await bot.send_message(USER, "something else")
    with pytest.raises(AssertionError, match=tg("sendMessage")):
        await fake.wait_for(lambda: False, timeout=0.05)


# ---------------------------------------------------------------- bot settings


async def test_commands_and_descriptions(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    assert await bot.set_my_commands([("start", "Start"), ("courses", "Courses")])
    assert await bot.set_my_commands([("start", "开始")], language_code="zh")
    assert fake.commands == {
        None: [{"command": "start", "description": "Start"}, {"command": "courses", "description": "Courses"}],
        "zh": [{"command": "start", "description": "开始"}],
    }
    assert [c.command for c in await bot.get_my_commands(language_code="zh")] == ["start"]
    with pytest.raises(BadRequest, match=tg("BOT_COMMAND_INVALID")):
        await bot.set_my_commands([("Start", "Upper case")])
    with pytest.raises(BadRequest, match=tg("BOT_COMMAND_DESCRIPTION_INVALID")):
        await bot.set_my_commands([("start", "x" * 257)])
    assert await bot.delete_my_commands(language_code="zh")
    assert "zh" not in fake.commands

    assert await bot.set_my_description("Learn anything", language_code="en")
    assert (await bot.get_my_description("en")).description == "Learn anything"
    with pytest.raises(BadRequest, match=tg("description is too long")):
        await bot.set_my_description("x" * 513)
    assert await bot.set_my_short_description("Courses in chat")
    with pytest.raises(BadRequest, match=tg("short description is too long")):
        await bot.set_my_short_description("x" * 121)
    assert fake.short_descriptions == {None: "Courses in chat"}
    assert await bot.set_chat_menu_button(menu_button=telegram.MenuButtonCommands())
    assert await bot.send_chat_action(USER, "typing")
    with pytest.raises(BadRequest, match=tg("wrong parameter action")):
        await raw_ok(fake, "sendChatAction", {"chat_id": USER, "action": "dancing"})


async def raw_ok(fake: FakeBotAPI, method: str, params: dict[str, Any]) -> Any:
    status, body = await raw(fake, method, params)
    if status != 200:
        raise BadRequest(body["description"])
    return body["result"]


# ---------------------------------------------------------------- payments


async def test_star_invoice_rules(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    two_prices = [LabeledPrice("Course", 100), LabeledPrice("Fee", 5)]
    with pytest.raises(BadRequest, match=tg("STARS_INVOICE_INVALID")):
        await bot.send_invoice(USER, "Course", "Python 101", "order:1", "XTR", two_prices)
    with pytest.raises(BadRequest, match=tg("STARS_INVOICE_INVALID")):
        await bot.send_invoice(USER, "Course", "Python 101", "order:1", "XTR", [LabeledPrice("C", 1)], "tok")
    with pytest.raises(BadRequest, match=tg("PAYMENT_PROVIDER_INVALID")):
        await bot.send_invoice(USER, "Course", "Python 101", "order:1", "USD", [LabeledPrice("C", 100)])
    with pytest.raises(BadRequest, match=tg("INVOICE_PAYLOAD_INVALID")):
        await bot.send_invoice(USER, "Course", "Python 101", "x" * 129, "XTR", [LabeledPrice("C", 1)])
    with pytest.raises(BadRequest, match=tg("INVOICE_TITLE_INVALID")):
        await bot.send_invoice(USER, "T" * 33, "Python 101", "p", "XTR", [LabeledPrice("C", 1)])
    with pytest.raises(BadRequest, match=tg("CURRENCY_TOTAL_AMOUNT_INVALID")):
        await bot.send_invoice(USER, "Course", "Python 101", "p", "XTR", [LabeledPrice("C", 0)])
    message = await bot.send_invoice(USER, "Course", "Python 101", "order:1", "XTR", [LabeledPrice("Course", 100)])
    assert message.invoice.total_amount == 100 and message.invoice.currency == "XTR"
    assert fake.invoices[f"{USER}:{message.message_id}"]["payload"] == "order:1"


async def test_subscription_link_period(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    price = [LabeledPrice("Monthly", 300)]
    link = await bot.create_invoice_link("Club", "Monthly club", "sub:1", "XTR", price, subscription_period=2592000)
    assert link.startswith("https://t.me/$") and fake.invoice_links[link]["subscription_period"] == 2592000
    for period in (86400, timedelta(days=31)):
        with pytest.raises(BadRequest, match=tg("SUBSCRIPTION_PERIOD_INVALID")):
            await bot.create_invoice_link("Club", "Monthly club", "sub:1", "XTR", price, subscription_period=period)
    with pytest.raises(BadRequest, match=tg("SUBSCRIPTION_PRICE_INVALID")):
        await bot.create_invoice_link(
            "Club", "Monthly", "sub:1", "XTR", [LabeledPrice("M", 10001)], subscription_period=2592000
        )
    invoice = {
        "chat_id": USER,
        "title": "Club",
        "description": "Monthly",
        "payload": "sub:1",
        "currency": "XTR",
        "prices": [{"label": "M", "amount": 300}],
        "subscription_period": 2592000,
    }
    status, body = await raw(fake, "sendInvoice", invoice)
    assert (status, body["description"]) == (400, "Bad Request: SUBSCRIPTION_PERIOD_INVALID")


async def answer_pre_checkout(bot: telegram.Bot, *, ok: bool = True, error: str | None = None) -> None:
    """A minimal bot: poll until a pre_checkout_query arrives and answer it."""
    offset = None
    while True:
        for update in await next_updates(bot, offset):
            offset = update.update_id + 1
            if update.pre_checkout_query is not None:
                await update.pre_checkout_query.answer(ok=ok, error_message=error)
                return


async def test_pay_end_to_end(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    message = await bot.send_invoice(USER, "Course", "Python 101", "order:9", "XTR", [LabeledPrice("Course", 250)])
    answering = asyncio.create_task(answer_pre_checkout(bot))
    result = await fake.pay(USER, fake.sent[-1])
    await answering
    assert result["ok"] and result["error_message"] is None and 0 <= result["latency"] < 1
    assert fake.answered_pre_checkouts == [
        {"id": fake.answered_pre_checkouts[0]["id"], "ok": True, "error_message": None, "latency": result["latency"]}
    ]
    update = Update.de_json(result["update"], bot)
    payment = update.message.successful_payment
    assert payment.telegram_payment_charge_id == result["charge_id"]
    assert (payment.currency, payment.total_amount, payment.invoice_payload) == ("XTR", 250, "order:9")
    assert payment.subscription_expiration_date is None

    (delivered,) = await bot.get_updates(offset=update.update_id, timeout=0)
    assert delivered.message.successful_payment.telegram_payment_charge_id == result["charge_id"]
    transactions = (await bot.get_star_transactions()).transactions
    assert [(t.id, t.amount) for t in transactions] == [(result["charge_id"], 250)]
    assert transactions[0].source.user.id == USER and transactions[0].source.invoice_payload == "order:9"
    assert message.invoice is not None

    second = asyncio.create_task(answer_pre_checkout(bot))
    again = await fake.pay(USER, fake.sent[-1])
    await second
    assert again["charge_id"] != result["charge_id"]


async def test_pay_declined_by_the_bot(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    await bot.send_invoice(USER, "Course", "Python 101", "order:9", "XTR", [LabeledPrice("Course", 250)])
    answering = asyncio.create_task(answer_pre_checkout(bot, ok=False, error="Sold out"))
    result = await fake.pay(USER, fake.sent[-1])
    await answering
    assert (result["ok"], result["error_message"], result["charge_id"]) == (False, "Sold out", None)
    assert fake.payments == {} and fake.star_transactions == []


async def test_late_and_repeated_pre_checkout_answers_fail(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    await bot.send_invoice(USER, "Course", "Python 101", "order:9", "XTR", [LabeledPrice("Course", 250)])
    fake.pre_checkout_timeout = 0.1
    result = await fake.pay(USER, fake.sent[-1])
    assert result["ok"] is False and result["timed_out"] and result["charge_id"] is None
    (update,) = await bot.get_updates(timeout=0)
    await asyncio.sleep(0.02)
    with pytest.raises(BadRequest, match=tg("query is too old")):
        await update.pre_checkout_query.answer(ok=True)
    assert fake.payments == {}
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()

    fake.pre_checkout_timeout = 10.0
    paying = asyncio.create_task(fake.pay(USER, fake.sent[-1]))
    (update,) = await bot.get_updates(offset=update.update_id + 1, timeout=1)
    query_id = update.pre_checkout_query.id
    with pytest.raises(BadRequest, match=tg("ERROR_MESSAGE_EMPTY")):
        await raw_ok(fake, "answerPreCheckoutQuery", {"pre_checkout_query_id": query_id, "ok": False})
    assert await update.pre_checkout_query.answer(ok=True)
    assert (await paying)["ok"]
    with pytest.raises(BadRequest, match=tg("query is too old")):
        await bot.answer_pre_checkout_query(query_id, ok=True)


async def test_pre_checkout_deadline_follows_the_injected_clock() -> None:
    now = [datetime(2026, 3, 2, tzinfo=UTC)]
    fake = FakeBotAPI(clock=lambda: now[0])
    await fake.start()
    try:
        fake.add_user(USER)
        async with telegram.Bot(fake.token, base_url=fake.base_url) as bot:
            await bot.send_invoice(USER, "Course", "Python 101", "order:9", "XTR", [LabeledPrice("Course", 1)])
            paying = asyncio.create_task(fake.pay(USER, fake.sent[-1], wait_answer=0.3))
            (update,) = await next_updates(bot)
            assert update.pre_checkout_query.from_user.id == USER
            now[0] += timedelta(seconds=11)
            with pytest.raises(BadRequest, match=tg("query is too old")):
                await update.pre_checkout_query.answer(ok=True)
            assert (await paying)["timed_out"]
    finally:
        await fake.stop()


async def test_refund_star_payment_twice(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    await bot.send_invoice(USER, "Course", "Python 101", "order:9", "XTR", [LabeledPrice("Course", 250)])
    answering = asyncio.create_task(answer_pre_checkout(bot))
    result = await fake.pay(USER, fake.sent[-1])
    await answering
    with pytest.raises(BadRequest, match=tg("CHARGE_NOT_FOUND")):
        await bot.refund_star_payment(999, result["charge_id"])
    assert await bot.refund_star_payment(USER, result["charge_id"])
    with pytest.raises(BadRequest, match=tg("CHARGE_ALREADY_REFUNDED")):
        await bot.refund_star_payment(USER, result["charge_id"])
    assert fake.refunds[0]["charge_id"] == result["charge_id"] and fake.refunds[0]["by"] == "bot"
    transactions = (await bot.get_star_transactions(limit=10)).transactions
    assert [t.amount for t in transactions] == [250, 250]
    assert transactions[1].receiver is not None and transactions[1].receiver.user.id == USER
    with pytest.raises(BadRequest, match=tg("LIMIT_INVALID")):
        await bot.get_star_transactions(limit=101)


async def test_subscription_pay_renew_cancel_and_telegram_refund(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    link = await bot.create_invoice_link(
        "Club", "Monthly club", "sub:1", "XTR", [LabeledPrice("Monthly", 300)], subscription_period=2592000
    )
    answering = asyncio.create_task(answer_pre_checkout(bot))
    result = await fake.pay(USER, link)
    await answering
    first = Update.de_json(result["update"], bot).message.successful_payment
    assert first.is_recurring and first.is_first_recurring
    charge = result["charge_id"]
    assert fake.subscriptions[charge]["expires"] == first.subscription_expiration_date
    assert fake.star_transactions[0]["source"]["subscription_period"] == 2592000

    renewal = Update.de_json(await fake.renew(USER, charge), bot).message.successful_payment
    assert renewal.telegram_payment_charge_id != charge and renewal.invoice_payload == "sub:1"
    assert renewal.is_recurring and not renewal.is_first_recurring
    assert renewal.subscription_expiration_date == first.subscription_expiration_date + timedelta(days=30)

    assert await bot.edit_user_star_subscription(USER, charge, is_canceled=True)
    assert fake.subscriptions[charge]["canceled"]
    with pytest.raises(ValueError, match=tg("cancelled")):
        await fake.renew(USER, charge)

    refunded = Update.de_json(await fake.refund_from_telegram(USER, charge), bot).message.refunded_payment
    assert refunded.telegram_payment_charge_id == charge and refunded.total_amount == 300
    with pytest.raises(BadRequest, match=tg("CHARGE_ALREADY_REFUNDED")):
        await bot.refund_star_payment(USER, charge)


# ---------------------------------------------------------------- groups


async def test_invite_link_member_limit(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    fake.add_group(GROUP, title="Python club")
    expire = datetime.now(UTC) + timedelta(days=1)
    link = await bot.create_chat_invite_link(GROUP, name="order 1", member_limit=1, expire_date=expire)
    assert link.member_limit == 1 and link.name == "order 1" and not link.creates_join_request
    update = await fake.join_via_link(USER, GROUP, link.invite_link)
    change = Update.de_json(update, bot).chat_member
    assert (change.old_chat_member.status, change.new_chat_member.status) == ("left", "member")
    assert change.invite_link.invite_link == link.invite_link and change.from_user.id == USER
    assert fake.members[GROUP][USER] == "member"
    with pytest.raises(InviteLinkRefused, match=tg("USERS_TOO_MUCH")):
        await fake.join_via_link(7, GROUP, link.invite_link)
    with pytest.raises(InviteLinkRefused, match=tg("USER_ALREADY_PARTICIPANT")):
        await fake.join_directly(USER, GROUP)

    other = await bot.create_chat_invite_link(GROUP)
    revoked = await bot.revoke_chat_invite_link(GROUP, other.invite_link)
    assert revoked.is_revoked
    with pytest.raises(InviteLinkRefused, match=tg("INVITE_HASH_EXPIRED")):
        await fake.join_via_link(8, GROUP, other.invite_link)
    with pytest.raises(InviteLinkRefused, match=tg("INVITE_HASH_INVALID")):
        await fake.join_via_link(8, -100, other.invite_link)

    with pytest.raises(BadRequest, match=tg("member limit can't be specified")):
        await bot.create_chat_invite_link(GROUP, member_limit=5, creates_join_request=True)
    with pytest.raises(BadRequest, match=tg("USAGE_LIMIT_INVALID")):
        await bot.create_chat_invite_link(GROUP, member_limit=100000)
    with pytest.raises(BadRequest, match=tg("INVITE_LINK_NAME_INVALID")):
        await bot.create_chat_invite_link(GROUP, name="n" * 33)
    fake.add_group(-1009, bot_is_admin=False)
    with pytest.raises(BadRequest, match=tg("not enough rights to manage chat invite links")):
        await bot.create_chat_invite_link(-1009)
    with pytest.raises(BadRequest, match=tg("chat not found")):
        await bot.create_chat_invite_link(-1008)


async def test_join_requests_approve_and_decline(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    fake.add_group(GROUP)
    link = await bot.create_chat_invite_link(GROUP, creates_join_request=True)
    request = Update.de_json(await fake.join_via_link(USER, GROUP, link.invite_link), bot).chat_join_request
    assert request.from_user.id == USER and request.invite_link.invite_link == link.invite_link
    assert fake.members[GROUP].get(USER) is None
    await fake.request_join(7, GROUP)

    assert await bot.approve_chat_join_request(GROUP, USER)
    assert fake.members[GROUP][USER] == "member"
    await fake.wait_for(lambda: any("chat_member" in u for u in fake.updates))
    (joined,) = await bot.get_updates(timeout=0, allowed_updates=["chat_member"])
    assert joined.chat_member.via_join_request and joined.chat_member.new_chat_member.status == "member"
    with pytest.raises(BadRequest, match=tg("HIDE_REQUESTER_MISSING")):
        await bot.approve_chat_join_request(GROUP, USER)

    assert await bot.decline_chat_join_request(GROUP, 7)
    assert fake.members[GROUP].get(7) is None and fake.declined_requests == [(GROUP, 7)]
    with pytest.raises(BadRequest, match=tg("HIDE_REQUESTER_MISSING")):
        await bot.decline_chat_join_request(GROUP, 7)


async def test_ban_and_unban(fake: FakeBotAPI, bot: telegram.Bot) -> None:
    fake.add_group(GROUP)
    await fake.join_directly(USER, GROUP)
    assert (await bot.get_chat_member(GROUP, USER)).status == "member"
    assert await bot.ban_chat_member(GROUP, USER)
    member = await bot.get_chat_member(GROUP, USER)
    assert member.status == "kicked"
    with pytest.raises(InviteLinkRefused, match=tg("USER_BANNED_IN_CHANNEL")):
        await fake.join_directly(USER, GROUP)
    assert await bot.unban_chat_member(GROUP, USER, only_if_banned=True)
    assert (await bot.get_chat_member(GROUP, USER)).status == "left"
    await fake.join_directly(USER, GROUP)
    assert await bot.unban_chat_member(GROUP, USER, only_if_banned=True)  # a member: untouched
    assert fake.members[GROUP][USER] == "member"

    await fake.wait_for(lambda: sum("chat_member" in u for u in fake.updates) == 4)
    updates = await bot.get_updates(timeout=0, allowed_updates=["chat_member"])
    transitions = [(u.chat_member.old_chat_member.status, u.chat_member.new_chat_member.status) for u in updates]
    assert transitions == [("left", "member"), ("member", "kicked"), ("kicked", "left"), ("left", "member")]

    assert (await bot.get_chat_member(GROUP, fake.bot_id)).status == "administrator"
    chat = await bot.get_chat(GROUP)
    assert chat.title == "Paid group" and chat.type == "supergroup"
    assert (await bot.get_chat(USER)).first_name == "Ann"
    fake.add_user(99)
    fake.members[GROUP][99] = "administrator"
    with pytest.raises(BadRequest, match=tg("user is an administrator")):
        await bot.ban_chat_member(GROUP, 99)
    assert await bot.leave_chat(GROUP)
    with pytest.raises(Forbidden, match=tg("bot is not a member")):
        await bot.send_message(GROUP, "hello")


async def test_form_encoded_nested_fields_are_decoded(fake: FakeBotAPI) -> None:
    data = {
        "chat_id": str(USER),
        "text": "pick",
        "reply_markup": json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}),
        "protect_content": "true",
    }
    status, body = await raw(fake, "sendMessage", data=data)
    assert status == 200 and body["result"]["has_protected_content"] is True
    assert fake.calls[-1][1]["reply_markup"] == {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
