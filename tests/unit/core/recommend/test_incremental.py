"""Course changes between refits: published, edited, unpublished; and the per-course token cache."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime

from core.recommend import CourseDoc, Interaction, ReasonKind, Recommender, TokenCache

Took = Callable[..., list[Interaction]]
Crowd = Callable[..., list[Interaction]]


def ids(recs: list) -> list[int]:  # type: ignore[type-arg]
    return [r.course_id for r in recs]


def test_a_published_course_is_recommended_without_a_refit(catalog: list[CourseDoc], took: Took, now: datetime) -> None:
    model = Recommender.fit(catalog, took(1, 4) + took(2, 1), now)
    assert 60 not in ids(model.recommend(1, 10))
    puer = CourseDoc(
        60,
        "puer",
        "普洱茶品鉴：生茶与熟茶",
        "普洱茶入门",
        "普洱茶的冲泡、茶具与品鉴。",
        "生活",
        ("茶艺", "普洱"),
        "zh",
        now,
    )
    model.upsert_course(puer)
    recs = model.recommend(1, 2)
    assert 60 in ids(recs)
    assert next(r for r in recs if r.course_id == 60).reason.anchor_course_id == 4
    assert 60 in ids(model.top_n_all(2)[1])
    assert ids(model.recommend(999, 1, queries=["普洱"])) == [60]
    assert 60 not in ids(model.recommend(2, 2))  # the Python learner is not offered tea


def test_an_edited_course_moves_to_its_new_topic(catalog: list[CourseDoc], took: Took, now: datetime) -> None:
    model = Recommender.fit(catalog, took(1, 1) + took(2, 4) + took(3, 5), now)  # 1 and 5 equally popular
    assert ids(model.recommend(2, 1)) == [5]
    rewritten = dataclasses.replace(
        catalog[4],
        title="Python 自动化脚本",
        summary="用 Python 自动化办公",
        description="Python 脚本：文件、表格、定时任务。",
        category="编程",
        tags=("python", "自动化"),
    )
    model.upsert_course(rewritten)
    assert 5 in ids(model.recommend(1, 3))
    assert ids(model.recommend(2, 1)) != [5]


def test_an_edit_keeps_what_learners_did(catalog: list[CourseDoc], took: Took, crowd: Crowd, now: datetime) -> None:
    model = Recommender.fit(catalog, crowd(100, 30, 6, 7, 9) + took(1, 6, 9), now)
    model.upsert_course(dataclasses.replace(catalog[6], summary="全新升级：管好每个月的钱"))
    first = model.recommend(1, 1)[0]
    assert first.course_id == 7 and first.reason.kind == ReasonKind.BOUGHT_TOGETHER


def test_unpublished_then_published_again(catalog: list[CourseDoc], took: Took, now: datetime) -> None:
    model = Recommender.fit(catalog, took(1, 4), now)
    model.remove_course(5)
    assert 5 not in ids(model.recommend(1, 20))
    assert all(5 not in ids(r) for r in model.top_n_all(20).values())
    model.upsert_course(catalog[4])
    assert ids(model.recommend(1, 1)) == [5]


def test_a_refit_tokenizes_only_changed_courses(catalog: list[CourseDoc], took: Took, now: datetime) -> None:
    cache = TokenCache()
    first = Recommender.fit(catalog, took(1, 1), now, token_cache=cache)
    assert cache.misses == len(catalog)
    Recommender.fit(catalog, took(1, 1), now, token_cache=cache)
    assert cache.misses == 0
    edited = [dataclasses.replace(c, summary=c.summary + "（更新）") if c.id == 3 else c for c in catalog]
    Recommender.fit(edited, took(1, 1), now, token_cache=cache)
    assert cache.misses == 1
    assert cache.retain(edited) == 1  # the old text of course 3
    # Persisted as JSON and loaded in another process: nothing to tokenize, same results.
    restored = TokenCache.from_dict(json.loads(json.dumps(cache.to_dict(), ensure_ascii=False)))
    again = Recommender.fit(edited, took(1, 1), now, token_cache=restored)
    assert restored.misses == 0
    assert ids(again.recommend(1, 5)) == ids(Recommender.fit(edited, took(1, 1), now).recommend(1, 5))
    assert ids(first.recommend(1, 2)) == [2, 3] or ids(first.recommend(1, 2)) == [3, 2]


def test_a_damaged_cache_entry_is_just_a_miss(catalog: list[CourseDoc], took: Took, now: datetime) -> None:
    data = TokenCache().to_dict()
    good = TokenCache()
    Recommender.fit(catalog, [], now, token_cache=good)
    data = good.to_dict()
    key = next(iter(data))
    data[key] = "not tokens"  # type: ignore[assignment]
    damaged = TokenCache.from_dict(data | {"x": [[1], [], []]})
    Recommender.fit(catalog, [], now, token_cache=damaged)
    assert damaged.misses == 1
