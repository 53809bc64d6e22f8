"""Every recommendation carries a short reason in the learner's language, whatever model put it there."""

from __future__ import annotations

import pytest

from core.catalog import Course, DripMode, Price
from core.i18n import translator
from core.recommend import Reason
from core.recommendations import Pick
from handlers.recommend import push_messages, reason_text


def course(course_id: int, title: str) -> Course:
    return Course(course_id, f"c{course_id}", title, "", "", "", (), "zh", Price(stars=100), DripMode.ALL, 8)


PYTHON = course(1, "Python 入门")
PHOTO = course(2, "摄影构图基础")


@pytest.mark.parametrize(
    ("kind", "anchor", "zh", "en"),
    [
        ("studied", PYTHON, "因为你学过《Python 入门》", "because you studied “Python 入门”"),
        ("bought_together", PYTHON, "学过《Python 入门》的同学也在学", "learners of “Python 入门” also took it"),
        ("popular", None, "最近很受欢迎", "popular with learners right now"),
        ("new", None, "新上线的课程", "new in the catalog"),
        ("search", None, "和你搜索过的内容相关", "matches what you searched for"),
        ("studied", None, "为你挑选", "picked for you"),  # its anchor course is gone: no half sentence
        ("something-newer", None, "为你挑选", "picked for you"),  # a reason this version does not know
    ],
)
def test_each_reason_reads_well_in_both_languages(kind: str, anchor: Course | None, zh: str, en: str) -> None:
    pick = Pick(PHOTO, Reason(kind, anchor.id if anchor else None), anchor, 1.0)
    assert reason_text(translator("zh"), pick) == zh
    assert reason_text(translator("en"), pick) == en


def test_the_push_lists_the_courses_with_tracked_buttons_and_an_opt_out() -> None:
    picks = [Pick(PHOTO, Reason("studied", 1), PYTHON, 0.9), Pick(PYTHON, Reason("popular"), None, 0.5)]
    (message,) = push_messages(translator("zh"), 42, picks)
    assert message.text.splitlines()[:5] == [  # type: ignore[attr-defined]
        "✨ 本周为你推荐",
        "1. 摄影构图基础",
        "   因为你学过《Python 入门》",
        "2. Python 入门",
        "   最近很受欢迎",
    ]
    actions = [(b.label, b.action) for row in message.buttons for b in row]  # type: ignore[attr-defined]
    assert actions == [("摄影构图基础", "rp:42.0"), ("Python 入门", "rp:42.1"), ("🔕 不再接收推荐", "mute:r.1")]
