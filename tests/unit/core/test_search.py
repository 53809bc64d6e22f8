"""Search ranking as a learner sees it: what comes first for a query, in Chinese, English, both, and with typos."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from core.catalog import Course, DripMode, Price
from core.search import Bm25f, SearchIndex, search_courses
from core.tokens import tokens


def course(
    cid: int,
    title: str,
    *,
    tags: tuple[str, ...] = (),
    summary: str = "",
    description: str = "",
    category: str = "",
    language: str = "en",
    published: bool = True,
) -> Course:
    return Course(
        cid, f"c{cid}", title, summary, description, category, tags, language, Price(), DripMode.ALL, 8,
        published=published,
    )  # fmt: skip


CATALOG = [
    course(1, "Python for Beginners", tags=("python", "programming"), summary="From zero to your first script."),
    course(2, "深度学习实战", tags=("深度学习", "人工智能"), summary="用神经网络解决图像问题。", language="zh"),
    course(3, "摄影构图基础", tags=("摄影", "手机摄影"), summary="用手机也能拍出好照片。", language="zh"),
    course(4, "Python 数据分析实战", tags=("python", "数据分析"), summary="用 pandas 处理表格数据。", language="zh"),
    course(5, "数据分析入门", tags=("数据分析",), summary="从 Excel 到 SQL。", language="zh"),
    course(6, "Machine Learning Fundamentals", tags=("machine learning",), summary="Models that learn from data."),
    course(7, "Personal Finance 101", tags=("money", "budgeting"), summary="Budget and invest, step by step."),
    course(8, "Spreadsheet Skills", summary="Formulas and charts.", description="Excel " * 5 + "tips for the office."),
    course(9, "Excel for Busy People", summary="Get the job done faster."),
    course(10, "Python Secrets (draft)", tags=("python",), published=False),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    ix = SearchIndex()
    ix.update(CATALOG)
    return ix


def titles(found: list[Course]) -> list[str]:
    return [c.title for c in found]


def test_a_chinese_query_finds_the_course_by_a_word_inside_a_longer_one(index: SearchIndex) -> None:
    assert titles(index.search("深度学习"))[0] == "深度学习实战"
    # Search mode also indexes the shorter words of 深度学习, so 学习 alone finds it too.
    assert "深度学习实战" in titles(index.search("学习"))
    assert titles(index.search("构图")) == ["摄影构图基础"]


def test_a_tag_added_to_the_dictionary_stays_one_word(index: SearchIndex) -> None:
    # 手机摄影 is a tag of course 3, so it is a dictionary term now: it comes out whole (as well as its parts).
    assert "手机摄影" in tokens("我想学手机摄影")
    assert titles(index.search("手机摄影")) == ["摄影构图基础"]


def test_english_queries_tolerate_typos_in_title_words(index: SearchIndex) -> None:
    assert titles(index.search("pyhton"))[:2] == ["Python for Beginners", "Python 数据分析实战"]
    assert titles(index.search("machin lerning"))[0] == "Machine Learning Fundamentals"
    assert titles(index.search("personal finanse"))[0] == "Personal Finance 101"


def test_typo_matching_can_be_switched_off_and_never_guesses_far(index: SearchIndex) -> None:
    strict = SearchIndex(Bm25f(fuzzy=False))
    strict.update(CATALOG)
    assert strict.search("pyhton") == []
    assert index.search("pyhtonista") == []  # three edits away from any title word
    assert index.search("pyt") == []  # too short to guess


def test_a_mixed_query_ranks_the_course_that_has_both_first(index: SearchIndex) -> None:
    found = titles(index.search("python 数据分析"))
    assert found[0] == "Python 数据分析实战"
    assert {"Python for Beginners", "数据分析入门"} <= set(found[1:])


def test_a_title_hit_beats_a_description_that_repeats_the_word(index: SearchIndex) -> None:
    found = titles(index.search("excel"))
    assert found[0] == "Excel for Busy People"  # once, in the title
    assert "Spreadsheet Skills" in found[1:]  # five times, in the description


def test_unpublished_courses_never_appear(index: SearchIndex) -> None:
    assert "Python Secrets (draft)" not in titles(index.search("python secrets"))
    assert index.search("secrets") == []


def test_nothing_in_common_finds_nothing(index: SearchIndex) -> None:
    assert index.search("quantum chromodynamics") == []
    assert index.search("？！。") == []
    assert index.search("") == []


def test_ties_are_broken_by_course_id_whatever_the_input_order() -> None:
    twins = [course(i, "Watercolor Basics", summary="Paint.") for i in (42, 7, 19)]
    others = [course(i, f"Other {i}", summary="Paint with oils.") for i in range(100, 110)]
    first = SearchIndex()
    first.update(twins + others)
    expected = [7, 19, 42]
    assert [c.id for c in first.search("watercolor")] == expected
    shuffled = twins + others
    random.Random(5).shuffle(shuffled)
    second = SearchIndex()
    second.update(shuffled)
    assert [c.id for c in second.search("paint")] == [c.id for c in first.search("paint")]
    assert [c.id for c in second.search("paint")][:3] == expected  # shorter texts rank first, then by id


def test_a_weak_match_on_a_common_word_does_not_drag_in_the_catalog() -> None:
    catalog = [course(i, f"Course {i}", summary="A course about cooking.") for i in range(1, 40)]
    catalog.append(course(99, "Sourdough Bread", summary="A course about baking bread."))
    ix = SearchIndex()
    ix.update(catalog)
    assert titles(ix.search("sourdough course")) == ["Sourdough Bread"]


def test_an_edit_is_indexed_without_segmenting_the_other_courses_again() -> None:
    ix = SearchIndex()
    ix.update(CATALOG)
    edited = [replace(c, title="Python für Anfänger") if c.id == 1 else c for c in CATALOG]
    ix.update(edited)
    assert ix.segmented == 1
    assert "Python für Anfänger" in titles(ix.search("anfänger python"))
    assert "Python for Beginners" not in titles(ix.search("beginners"))
    ix.update([c for c in edited if c.id != 7])  # removed (or unpublished) from the catalog
    assert ix.segmented == 0 and ix.search("finance") == []
    ix.update([replace(c, price=Price(stars=10)) if c.id == 9 else c for c in edited if c.id != 7])
    assert ix.segmented == 0  # a new price is not a new text
    assert ix.search("excel")[0].price == Price(stars=10)  # but results show the current course


def test_a_new_domain_term_cuts_older_courses_again_where_it_occurs() -> None:
    term = "".join(random.SystemRandom().choice("璨琨瑜瑾琳璐珂玥珏琦") for _ in range(4))  # new to jieba every run
    ix = SearchIndex()
    older = [
        course(1, "旅行摄影", summary=f"带上相机去远方，学习{term}拍摄。", language="zh"),
        course(2, "烹饪入门", summary="在家做好一日三餐。", language="zh"),
    ]
    ix.update(older)
    newer = [*older, course(3, f"{term}拍摄技巧", tags=(term,), language="zh")]
    ix.update(newer)
    assert ix.segmented == 2  # the new course, and course 1, whose summary contains the new term
    assert term in tokens(f"学习{term}拍摄")
    assert titles(ix.search(term)) == [f"{term}拍摄技巧", "旅行摄影"]


def test_search_courses_is_a_one_off_search(index: SearchIndex) -> None:
    assert titles(search_courses(CATALOG, "摄影", limit=5)) == titles(index.search("摄影", limit=5))
    assert len(search_courses(CATALOG, "python", limit=1)) == 1
