"""Lessons in Telegram: hostile Markdown and long text, media uploaded once, protected paid content,
catalog paging in place, share links and deep links, through PTB and the fake Bot API (which parses
the HTML like Telegram does and refuses what Telegram would refuse).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from fakes.telegram_html import utf16_len
from telegram_support import TgHarness, TgUser, telegram_app, text_of

import bot
from core.clock import FrozenClock
from core.ports import KeyValueStore
from core.users import Ref

SLUG = "hostile-markdown"
TITLE = "Hostile <Markdown> & Co"
HOSTILE = [
    "<script>alert(1)</script>",
    "a < b && c > d",
    "5 * 3",
    "javascript:alert(1)",
    "&amp;",
    "🎉",
    "<html>",
]
PARAGRAPHS = [f"第{n}段：" + ("学而时习之，不亦说乎？有朋自远方来，不亦乐乎？" * 12) + "。" for n in range(1, 45)]
CHINESE = "\n\n".join(PARAGRAPHS)  # 12,400 characters
PAID_SECRET = "Members only: the secret sauce is practice."


def hostile_course(root: Path) -> Path:
    folder = root / SLUG
    (folder / "lessons").mkdir(parents=True)
    (folder / "course.toml").write_text(
        textwrap.dedent(
            f"""\
            slug = "{SLUG}"
            title = "{TITLE}"
            language = "en"
            summary = "Everything a course author might type."

            [price]
            stars = 100

            [drip]
            mode = "all"
            """
        ),
        encoding="utf-8",
    )
    body = "\n".join(
        [
            "+++",
            'title = "Everything <at> once"',
            "free = true",
            "+++",
            "",
            "## Raw HTML",
            "",
            "Try <script>alert(1)</script> here.",
            "",
            "Compare: a < b && c > d",
            "",
            "Math: 5 * 3 _x_ [x](javascript:alert(1))",
            "",
            "Unbalanced **bold that never ends",
            "",
            "Entity typed by hand: &amp; stays as typed 🎉",
            "",
            "```html",
            "<html><body>&nbsp;</body></html>",
            "```",
            "",
            "## 长文",
            "",
            CHINESE,
            "",
        ]
    )
    (folder / "lessons" / "01-everything.md").write_text(body, encoding="utf-8")
    paid = '+++\ntitle = "Paid part"\n+++\n\n' + PAID_SECRET + "\n"
    (folder / "lessons" / "02-paid.md").write_text(paid, encoding="utf-8")
    return folder


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def calls_to(h: TgHarness, method: str, chat_id: int, since: int = 0) -> list[dict[str, Any]]:
    return [p for m, p in h.fake.calls[since:] if m.lower() == method.lower() and str(p.get("chat_id")) == str(chat_id)]


def protected(messages: list[dict[str, Any]]) -> list[bool]:
    return [bool(m.get("has_protected_content")) for m in messages]


async def test_hostile_markdown_and_long_text(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore, tmp_path: Path
) -> None:
    assert len(CHINESE) > 12_000
    async with telegram_app(demo.settings, clock, kv) as h:
        await bot.import_path(h.app, hostile_course(tmp_path))
        ann = h.user(1001)
        card = (await ann.say(f"/start c_{SLUG}"))[-1]
        assert TITLE in card["text"], card["text"]
        since = len(h.fake.calls)
        out = await ann.press(card, "Free preview")

        # every piece went out as HTML and Telegram accepted it at once (no plain-text fallback)
        sends = calls_to(h, "sendMessage", 1001, since)
        assert sends and all(p.get("parse_mode") == "HTML" for p in sends), [p.get("parse_mode") for p in sends]
        assert h.fake.errors == [], h.fake.errors
        assert len(sends) == len(out)

        lesson = [m for m in out if "Lesson" in m["text"] or "第" in m["text"]]
        assert len(lesson) >= 3  # 12,000 characters of Chinese do not fit in one message
        assert all(utf16_len(m["text"]) <= 4096 for m in out)
        assert not any(protected(out))  # a free lesson may be forwarded
        visible = "\n".join(m["text"] for m in lesson)
        assert "Lesson 1/2: Everything <at> once" in visible
        for s in HOSTILE:
            assert s in visible, s
        assert "Unbalanced **bold that never ends" in visible
        # no link to javascript:, and the code block stays code
        entities = [e for m in lesson for e in m.get("entities", [])]
        assert not any("javascript" in (e.get("url") or "") for e in entities), entities
        assert any(e["type"] == "pre" for e in entities)
        # the long section arrives whole and in order, each paragraph within one message
        for paragraph in PARAGRAPHS:
            assert any(paragraph in m["text"] for m in lesson), paragraph[:10]
        positions = [visible.index(p) for p in PARAGRAPHS]
        assert positions == sorted(positions)
        # the buttons come with the last message only
        assert buttons(out[-1]) and not any(buttons(m) for m in out[:-1])


async def test_paid_lessons_are_protected_free_ones_are_not(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore, tmp_path: Path
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        await bot.import_path(h.app, hostile_course(tmp_path))
        ann = h.user(1001)
        free = await ann.say(f"/next {SLUG}")
        assert "Lesson 1/2" in text_of(free)
        assert not any(protected(free))
        assert all(p.get("protect_content") in (None, False) for p in calls_to(h, "sendMessage", 1001))

        locked = await ann.say(f"/next {SLUG}")
        assert PAID_SECRET not in text_of(locked) and "🔒" in text_of(locked)

        invoice = next(m for m in await ann.say(f"/buy {SLUG}") if m.get("invoice"))
        since = len(h.fake.calls)
        result, answer = await ann.pay(invoice)
        assert result["ok"], result
        paid = [m for m in answer if PAID_SECRET in m.get("text", "")]
        assert paid and all(protected(paid)), answer
        assert all(
            p["protect_content"] is True for p in calls_to(h, "sendMessage", 1001, since) if PAID_SECRET in p["text"]
        )


async def test_media_is_uploaded_once_then_sent_by_file_id(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann, bob = h.user(1001), h.user(1002, name="Bob", lang="zh")
        out = await ann.say("/next photo-composition-zh")
        [photo] = [m for m in out if m.get("photo")]
        assert "三分法" in photo.get("caption", "")
        assert not photo.get("has_protected_content")
        [upload] = calls_to(h, "sendPhoto", 1001)
        assert "photo" in upload.get("_files", {}), upload  # the file itself, as multipart
        assert h.fake.uploads == 1
        file_id = photo["photo"][-1]["file_id"]

        out = await bob.say("/next photo-composition-zh")
        [photo_b] = [m for m in out if m.get("photo")]
        [resend] = calls_to(h, "sendPhoto", 1002)
        assert "_files" not in resend and resend["photo"] == file_id  # by file_id: nothing uploaded again
        assert h.fake.uploads == 1
        assert photo_b["photo"][-1]["file_id"] == file_id
        picture = bot.DEMO_CATALOG / "photo-composition-zh" / "media" / "rule-of-thirds.png"
        assert h.fake.files[file_id]["file_size"] == picture.stat().st_size  # the full picture, not the thumbnail


async def test_a_file_id_telegram_no_longer_knows_is_replaced_by_a_new_upload(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann, bob, carol = h.user(1001), h.user(1002, name="Bob"), h.user(1003, name="Carol")
        [photo] = [m for m in await ann.say("/next photo-composition-zh") if m.get("photo")]
        stale = photo["photo"][-1]["file_id"]
        del h.fake.files[stale]  # e.g. the bot token was changed: old file ids are refused

        [photo_b] = [m for m in await bob.say("/next photo-composition-zh") if m.get("photo")]
        assert h.fake.uploads == 2
        assert [e["description"] for m, _, e in h.fake.errors if m == "sendPhoto"] == [
            "Bad Request: wrong file identifier/HTTP URL specified"
        ]
        fresh = photo_b["photo"][-1]["file_id"]
        assert fresh != stale

        [photo_c] = [m for m in await carol.say("/next photo-composition-zh") if m.get("photo")]
        assert photo_c["photo"][-1]["file_id"] == fresh and h.fake.uploads == 2  # the new id is what is cached


async def test_catalog_pages_are_edited_in_place(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore, tmp_path: Path
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        await bot.import_path(h.app, hostile_course(tmp_path))  # 7 courses: two pages of 6
        ann = h.user(1001)
        [listing] = await ann.say("/catalog")
        assert "Page 1 of 2" in listing["text"]
        sends = len(calls_to(h, "sendMessage", 1001))

        [page2] = await ann.press(listing, "More")
        assert page2["_method"] == "editMessageText" and page2.get("_edited")
        assert page2["message_id"] == listing["message_id"]
        assert "Page 2 of 2" in page2["text"] and page2["text"] != listing["text"]
        [page1] = await ann.press(page2, "Previous")
        assert page1["_method"] == "editMessageText" and page1["message_id"] == listing["message_id"]
        assert "Page 1 of 2" in page1["text"]
        assert len(calls_to(h, "sendMessage", 1001)) == sends  # no new message for paging
        assert h.fake.errors == []


async def test_share_link_and_deep_links(demo: bot.App, clock: FrozenClock, kv: KeyValueStore) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann = h.user(1001, name="Ann")
        [card] = await ann.say("/start c_python-basics")
        assert "Python for Beginners" in card["text"]
        assert any("Buy" in b["text"] for b in buttons(card))
        [share] = [b for b in buttons(card) if "Share" in b["text"]]
        assert "callback_data" not in share
        url = share["url"]
        assert url.startswith("https://t.me/share/url?url="), url
        assert f"t.me%2F{h.fake.username}%3Fstart%3Dc_python-basics" in url, url

        # /start with an unknown course: a polite "not found", never a crash
        assert "No course or plan called" in text_of(await ann.say("/start c_no-such-course"))

        # referrals: Bob arrives through Ann's link
        async with h.app.uow() as uow:
            inviter = await uow.users.get_by_ref(Ref("telegram", "1001"))
        assert inviter is not None
        bob = h.user(1002, name="Bob")
        assert "Welcome" in text_of(await bob.say(f"/start r_{inviter.ref_code}"))
        carol = h.user(1003, name="Carol")
        await carol.say("/start")
        await carol.say(f"/start r_{inviter.ref_code}")  # already a user: not a referral
        dave = h.user(1004, name="Dave")
        assert "Welcome" in text_of(await dave.say("/start r_nosuchcode"))
        assert "Welcome" in text_of(await ann.say(f"/start r_{inviter.ref_code}"))  # one's own link: nothing

        async def referrer_of(user: TgUser) -> int | None:
            async with h.app.uow() as uow:
                found = await uow.users.get_by_ref(Ref("telegram", str(user.id)))
            assert found is not None
            return found.referred_by

        assert await referrer_of(bob) == inviter.id
        assert await referrer_of(carol) is None
        assert await referrer_of(dave) is None
        assert await referrer_of(ann) is None
