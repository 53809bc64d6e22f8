"""A small hand-made catalog (Chinese and English) and helpers to build histories."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import pytest

from core.recommend import CourseDoc, Interaction, Signal

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)


def course(
    id: int, slug: str, title: str, summary: str, description: str, category: str, tags: Iterable[str], lang: str = "zh"
) -> CourseDoc:
    return CourseDoc(id, slug, title, summary, description, category, tuple(tags), lang, OLD)


CATALOG = [
    course(
        1,
        "python-basics",
        "Python 零基础入门",
        "变量、列表、循环和函数",
        "从零开始写 Python 程序：变量、列表、循环、函数。",
        "编程",
        ["python", "编程入门"],
    ),
    course(
        2,
        "python-data",
        "Python 数据分析实战",
        "用 pandas 做数据分析",
        "用 Python 和 pandas 清洗数据、画图、做报表。",
        "编程",
        ["python", "数据分析", "pandas"],
    ),
    course(
        3,
        "python-web",
        "Python Web 开发",
        "用 Flask 写网站",
        "Python 后端：路由、模板、数据库，写一个博客网站。",
        "编程",
        ["python", "flask"],
    ),
    course(
        4,
        "tea-basics",
        "茶艺入门：绿茶与红茶",
        "认识六大茶类",
        "绿茶、红茶的冲泡方法，茶具的选择，水温与时间。",
        "生活",
        ["茶艺", "绿茶", "红茶"],
    ),
    course(
        5,
        "tea-oolong",
        "乌龙茶冲泡与品鉴",
        "功夫茶的冲泡",
        "乌龙茶、岩茶、单丛：功夫茶具、冲泡、品鉴香气。",
        "生活",
        ["茶艺", "乌龙茶"],
    ),
    course(
        6,
        "phone-photo",
        "手机摄影构图课",
        "用手机拍出好照片",
        "构图、光线、色彩，人像与风光，手机后期修图。",
        "艺术",
        ["摄影", "构图"],
    ),
    course(
        7,
        "budget",
        "个人理财：记账与预算",
        "管好每个月的钱",
        "记账方法、预算表、应急资金、信用卡账单。",
        "理财",
        ["理财", "记账"],
    ),
    course(
        8,
        "speaking",
        "Public Speaking for Beginners",
        "Speak with confidence",
        "Structure a talk, handle stage fright, tell stories.",
        "职场",
        ["speaking", "presentation"],
        "en",
    ),
    course(
        9,
        "oral-english",
        "英语口语：日常对话",
        "开口说英语",
        "发音、连读、日常对话场景练习。",
        "语言",
        ["英语", "口语"],
    ),
]


def took(user: int, *courses: int, kind: Signal = Signal.BUY, at: datetime = NOW) -> list[Interaction]:
    return [Interaction(user, c, kind, at) for c in courses]


@pytest.fixture
def catalog() -> list[CourseDoc]:
    return list(CATALOG)


@pytest.fixture
def crowd() -> Callable[..., list[Interaction]]:
    """``crowd(first_user, count, *courses)``: ``count`` users who each bought all ``courses``."""

    def make(first: int, count: int, *courses: int, at: datetime = NOW) -> list[Interaction]:
        return [i for u in range(first, first + count) for i in took(u, *courses, at=at)]

    return make


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture(name="took")
def took_fixture() -> Callable[..., list[Interaction]]:
    """``took(user, *courses, kind=BUY, at=NOW)``: one interaction per course."""
    return took
