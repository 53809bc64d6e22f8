"""What a learner sees: personal, excluded, diversified, explained recommendations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from core.recommend import (
    CourseDoc,
    Interaction,
    InteractionLog,
    ReasonKind,
    Recommender,
    RecommenderConfig,
    Signal,
)

Took = Callable[..., list[Interaction]]
Crowd = Callable[..., list[Interaction]]


def ids(recs: list) -> list[int]:  # type: ignore[type-arg]
    return [r.course_id for r in recs]


def test_content_similarity_finds_the_same_topic_course(catalog: list[CourseDoc], took: Took, now: datetime) -> None:
    """A learner of one Python course is offered the other Python courses first, "because you studied" it."""
    model = Recommender.fit(catalog, took(1, 1), now)
    recs = model.recommend(1, 3)
    assert set(ids(recs)[:2]) == {2, 3}
    assert all(r.reason.kind == ReasonKind.STUDIED and r.reason.anchor_course_id == 1 for r in recs[:2])
    tea = Recommender.fit(catalog, took(1, 5), now).recommend(1, 1)
    assert ids(tea) == [4] and tea[0].reason.anchor_course_id == 5


def test_collaborative_filtering_recommends_what_similar_learners_took(
    catalog: list[CourseDoc], took: Took, crowd: Crowd, now: datetime
) -> None:
    """Photography and budgeting share no words; many learners took both, so one leads to the other."""
    data = crowd(100, 30, 6, 7, 9) + crowd(200, 5, 4) + took(1, 6, 9)
    recs = Recommender.fit(catalog, data, now).recommend(1, 3)
    assert recs[0].course_id == 7
    assert recs[0].reason.kind == ReasonKind.BOUGHT_TOGETHER
    assert recs[0].reason.anchor_course_id in {6, 9}
    # Without those learners, budgeting is not what a photography learner is offered first.
    alone = Recommender.fit(catalog, crowd(200, 5, 4) + took(1, 6, 9), now).recommend(1, 3)
    assert alone[0].course_id != 7


def test_a_user_with_nothing_gets_popular_courses(catalog: list[CourseDoc], crowd: Crowd, now: datetime) -> None:
    data = crowd(100, 20, 8) + crowd(200, 10, 5) + crowd(300, 3, 2)
    model = Recommender.fit(catalog, data, now)
    for user in (999, 100):  # unknown; known but with a history passed as empty
        recs = model.recommend(user, 3, history=[] if user == 100 else None)
        assert ids(recs) == [8, 5, 2]
        assert {r.reason.kind for r in recs} == {ReasonKind.POPULAR}
        assert all(r.reason.anchor_course_id is None for r in recs)


def test_a_new_user_with_history_or_a_search_gets_personal_results_at_once(
    catalog: list[CourseDoc], crowd: Crowd, now: datetime
) -> None:
    model = Recommender.fit(catalog, crowd(100, 20, 8), now)  # only Public Speaking is popular
    fresh = [Interaction(5000, 4, Signal.VIEW, now)]
    recs = model.recommend(5000, 2, history=fresh)
    assert recs[0].course_id == 5 and recs[0].reason.kind == ReasonKind.STUDIED
    assert recs[0].reason.anchor_course_id == 4
    searched = model.recommend(5001, 2, queries=["乌龙茶"])
    assert searched[0].course_id == 5 and searched[0].reason.kind == ReasonKind.SEARCH


def test_exclusions_owned_seen_and_unpublished_are_never_recommended(
    catalog: list[CourseDoc], took: Took, crowd: Crowd, now: datetime
) -> None:
    data = crowd(100, 30, 1, 2, 3, 8) + took(1, 1)
    model = Recommender.fit([c for c in catalog if c.id != 9], data, now)  # 9 is unpublished: not given
    everything = model.recommend(1, 20)
    assert 1 not in ids(everything)  # already taken
    assert 9 not in ids(everything)
    assert len(everything) == 7  # all the others
    owned = model.recommend(1, 20, exclude={2, 8})
    assert not {1, 2, 8} & set(ids(owned))
    table = model.top_n_all(20, exclude={1: [3]})
    assert not {1, 3} & set(ids(table[1]))
    model.remove_course(2)
    assert 2 not in ids(model.recommend(1, 20))
    assert all(2 not in ids(recs) for recs in model.top_n_all(20).values())


def test_at_most_two_per_category_in_the_top_five(catalog: list[CourseDoc], crowd: Crowd, now: datetime) -> None:
    programming = [
        CourseDoc(20 + i, f"py-{i}", f"Python 进阶 {i}", "Python", "Python 编程", "编程", ("python",), "zh")
        for i in range(6)
    ]
    courses = catalog + programming
    data = crowd(100, 40, *[c.id for c in programming]) + crowd(200, 2, 7) + crowd(300, 1, 4)
    model = Recommender.fit(courses, data, now)
    categories = {c.id: c.category for c in courses}
    top5 = [categories[c] for c in ids(model.recommend(1, 10)[:5])]
    assert top5.count("编程") == 2
    assert len(model.recommend(1, 10)) == 10  # the other programming courses still follow
    plain = Recommender.fit(courses, data, now, RecommenderConfig(diversity_top=0))
    assert [categories[c] for c in ids(plain.recommend(1, 5))].count(
        "编程"
    ) == 5  # the rule is what made the difference


def test_every_recommendation_has_a_reason_anchored_in_the_learners_history(
    catalog: list[CourseDoc], took: Took, crowd: Crowd, now: datetime
) -> None:
    data = crowd(100, 20, 1, 2, 7) + crowd(200, 15, 4, 5) + took(1, 1, 4) + took(2, 6)
    history: dict[int, set[int]] = {}
    for i in data:
        history.setdefault(i.user_id, set()).add(i.course_id)
    model = Recommender.fit(catalog, data, now)
    kinds = set()
    for user, recs in model.top_n_all(8).items():
        assert len(recs) == 8 or len(recs) == len(catalog) - len(history[user])
        for r in recs:
            kinds.add(r.reason.kind)
            if r.reason.kind in (ReasonKind.STUDIED, ReasonKind.BOUGHT_TOGETHER):
                assert r.reason.anchor_course_id in history[user]
            else:
                assert r.reason.kind in (ReasonKind.POPULAR, ReasonKind.NEW)
                assert r.reason.anchor_course_id is None
    assert {ReasonKind.STUDIED, ReasonKind.BOUGHT_TOGETHER, ReasonKind.POPULAR} <= kinds


def test_precomputed_top_n_equals_live_recommendations(
    catalog: list[CourseDoc], crowd: Crowd, took: Took, now: datetime
) -> None:
    data = crowd(100, 20, 1, 2, 7) + crowd(200, 15, 4, 5) + took(1, 1, 4) + took(2, 6) + took(3, 8, kind=Signal.VIEW)
    model = Recommender.fit(catalog, data, now, RecommenderConfig(batch_users=7, threads=2))
    table = model.top_n_all(5)
    assert set(table) == {1, 2, 3, *range(100, 120), *range(200, 215)}
    for user, recs in table.items():
        assert recs == model.recommend(user, 5)


def test_recent_interest_outweighs_old_interest(catalog: list[CourseDoc], took: Took, now: datetime) -> None:
    """Tea two years ago, Python yesterday: Python first, and the other way round. Without decay, timing is moot."""
    long_ago, yesterday = now - timedelta(days=730), now - timedelta(days=1)
    python_lately = took(1, 5, at=long_ago) + took(1, 1, at=yesterday)
    tea_lately = took(1, 1, at=long_ago) + took(1, 5, at=yesterday)
    first = Recommender.fit(catalog, python_lately, now).recommend(1, 1)[0]
    assert first.course_id in {2, 3} and first.reason.anchor_course_id == 1
    first = Recommender.fit(catalog, tea_lately, now).recommend(1, 1)[0]
    assert first.course_id == 4 and first.reason.anchor_course_id == 5
    no_decay = RecommenderConfig(half_life_days=0)  # 0 turns decay off
    a = Recommender.fit(catalog, python_lately, now, no_decay).recommend(1, 4)
    b = Recommender.fit(catalog, tea_lately, now, no_decay).recommend(1, 4)
    assert ids(a) == ids(b)


def test_popularity_prefers_what_is_taken_lately(catalog: list[CourseDoc], crowd: Crowd, now: datetime) -> None:
    data = crowd(100, 30, 7, at=now - timedelta(days=365)) + crowd(200, 10, 6, at=now - timedelta(days=2))
    assert ids(Recommender.fit(catalog, data, now).recommend(999, 2)) == [6, 7]


def test_signals_count_by_kind(catalog: list[CourseDoc], now: datetime) -> None:
    """Ten views weigh less than ten purchases plus completions (cold-start ranking)."""
    data = [Interaction(u, 8, Signal.VIEW, now) for u in range(10)]
    data += [Interaction(u, 9, k, now) for u in range(10, 20) for k in (Signal.BUY, Signal.COMPLETE)]
    assert ids(Recommender.fit(catalog, data, now).recommend(999, 2)) == [9, 8]


def test_a_new_course_gets_the_new_reason_in_cold_start(catalog: list[CourseDoc], crowd: Crowd, now: datetime) -> None:
    fresh = CourseDoc(
        50, "fresh", "书法入门：楷书", "练字", "楷书笔画与结构。", "艺术", ("书法",), "zh", now - timedelta(days=1)
    )
    model = Recommender.fit([*catalog, fresh], crowd(100, 3, 8), now)
    recs = {r.course_id: r for r in model.recommend(999, 3)}
    assert recs[50].reason.kind == ReasonKind.NEW
    assert recs[8].reason.kind == ReasonKind.POPULAR


def test_columns_in_give_the_same_model_as_objects(
    catalog: list[CourseDoc], crowd: Crowd, took: Took, now: datetime
) -> None:
    """The storage side may hand over columns (no object per row); the result must not change."""
    data = (
        crowd(100, 10, 1, 2, 7)
        + crowd(200, 8, 4, 5)
        + took(1, 1, 4, kind=Signal.LIKE)
        + [Interaction(1, 99, Signal.VIEW, now)]
    )
    objects = Recommender.fit(catalog, data, now)
    columns = Recommender.fit(catalog, InteractionLog.from_interactions(data), now)
    assert objects.top_n_all(5) == columns.top_n_all(5)
    assert 99 not in objects.courses.index_of  # an interaction with an unknown (unpublished) course is ignored
    subset = columns.top_n(5, users=[1, 200, 4242])
    assert subset.user_ids.tolist() == [1, 200]  # unknown users are skipped
    assert subset.lists()[1] == columns.recommend(1, 5)
