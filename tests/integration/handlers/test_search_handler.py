"""/search and free-text search in the handlers: result pages with buttons, short validated page actions,
and popular courses when nothing matches."""

from __future__ import annotations

from search_support import publish, spec
from support import checkout, confirm, new_user

import bot
from bots.console import CAPABILITIES
from core.events import ButtonPress, Message, Sender
from core.replies import Button, Reply, TextReply
from core.users import Ref

ALICE = Sender(Ref.parse("console:alice"), "en")
WANG = Sender(Ref.parse("console:wang"), "zh")


async def say(app: bot.App, text: str, sender: Sender = ALICE) -> TextReply:
    replies = await app.dispatcher.dispatch(Message(sender, text), CAPABILITIES)
    return only_text(replies)


async def press(app: bot.App, action: str, sender: Sender = ALICE) -> TextReply:
    return only_text(await app.dispatcher.dispatch(ButtonPress(sender, action), CAPABILITIES))


def only_text(replies: list[Reply]) -> TextReply:
    assert len(replies) == 1 and isinstance(replies[0], TextReply), replies
    return replies[0]


def buttons(reply: TextReply) -> list[Button]:
    return [b for row in reply.buttons for b in row]


def button(reply: TextReply, label: str) -> Button:
    return next(b for b in buttons(reply) if label in b.label)


async def publish_many(app: bot.App, n: int) -> None:
    await publish(
        app,
        *(
            spec(f"watercolor-{i:02d}", f"水彩画第{i}课", tags=("水彩",), summary="水彩入门练习。", language="zh")
            for i in range(1, n + 1)
        ),
    )


async def test_results_come_in_pages_with_short_page_buttons(demo: bot.App) -> None:
    await publish_many(demo, 14)
    first = await say(demo, "/search 水彩", WANG)
    assert "（14）" in first.text and "第 1/3 页" in first.text
    assert "1. 水彩画第1课" in first.text and "7. " not in first.text
    more = button(first, "下一页")
    assert more.action.startswith("sr:") and len(more.action.encode()) <= 64  # Telegram's callback limit
    assert all(b.action.startswith("c:") for b in buttons(first) if b is not more)  # each result opens its course
    second = await press(demo, more.action, WANG)
    assert "7. 水彩画第7课" in second.text and "第 2/3 页" in second.text
    assert {"上一页", "下一页"} <= {b.label.strip("◀▶ ") for b in buttons(second)}
    back = await press(demo, button(second, "上一页").action, WANG)
    assert back.text == first.text


async def test_a_forged_or_expired_page_button_says_so(demo: bot.App) -> None:
    await publish_many(demo, 8)
    first = await say(demo, "水彩", WANG)  # free text is a search
    action = button(first, "下一页").action
    for forged in ("sr:", "sr:zz", "sr:0123456789ab.1", "sr:" + action[3:] + "9999", "sr:" + action[3:15]):
        assert "已过期" in (await press(demo, forged, WANG)).text, forged
    assert "已失效" in (await press(demo, "sr:../../x.1", WANG)).text  # the dispatcher refuses the shape
    await demo.kv.clear_state("search-query:" + action[3:].split(".")[0])  # what its TTL does after a day
    assert "已过期" in (await press(demo, action, WANG)).text


async def test_one_page_of_results_has_no_page_buttons(demo: bot.App) -> None:
    reply = await say(demo, "/search python")
    assert "Results for “python” (2)" in reply.text
    assert [b.action for b in buttons(reply)] == ["c:python-basics", "c:python-basics-zh"]


async def test_no_results_offers_the_most_popular_courses(demo: bot.App) -> None:
    for name in ("ann", "bob"):
        user = await new_user(demo, name)
        await confirm(demo, await checkout(demo, user, "public-speaking"), f"ch-{name}")
    user = await new_user(demo, "cyd")
    await confirm(demo, await checkout(demo, user, "photo-composition-zh"), "ch-cyd")
    reply = await say(demo, "/search quantum chromodynamics")
    assert reply.text.startswith("Nothing found for “quantum chromodynamics”.")
    assert "Popular courses" in reply.text
    actions = [b.action for b in buttons(reply)]
    assert actions[:2] == ["c:public-speaking", "c:photo-composition-zh"]  # most bought first
    assert actions[-1] == "cat:0"  # and the whole catalog


async def test_no_results_on_an_empty_catalog_points_to_the_catalog(app: bot.App) -> None:
    reply = await say(app, "anything at all")
    assert "Nothing found" in reply.text and "Popular" not in reply.text
    assert [b.action for b in buttons(reply)] == ["cat:0"]


async def test_an_empty_search_asks_what_to_look_for(demo: bot.App) -> None:
    assert "What are you looking for" in (await say(demo, "/search   ")).text
