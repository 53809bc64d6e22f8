"""Offline evaluation on the repo's synthetic dataset: the recommender must beat the baselines."""

from __future__ import annotations

import numpy as np
import pytest

from core.recommend.evaluation import evaluate_dataset, time_split
from core.recommend.signals import InteractionLog
from examples.recsys.generate import generate


@pytest.fixture(scope="module")
def synthetic():  # type: ignore[no-untyped-def]
    return generate(users=2000, courses=300, interactions=60_000, seed=7)


def test_beats_popularity_twice_and_truncated_svd(synthetic) -> None:  # type: ignore[no-untyped-def]
    m = evaluate_dataset(synthetic.dataset)
    assert m["users_evaluated"] > 1500
    assert m["precision@10"] >= 2 * m["popularity_precision@10"]
    assert m["precision@10"] >= m["svd_precision@10"]
    assert m["coverage"] >= 0.3
    assert 0 < m["recall@10"] <= 1 and m["fit_seconds"] > 0


def test_the_split_holds_out_each_users_latest_interactions() -> None:
    log = InteractionLog(
        np.array([1, 1, 1, 1, 1, 2, 2, 3]),
        np.array([10, 11, 12, 13, 14, 10, 11, 12]),
        np.zeros(8, np.int8),
        np.array([5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 8.0, 1.0]),
    )
    split = time_split(log, holdout=0.2)
    # user 1: 5 interactions → the latest one (course 10 at t=5) held out; user 2: 2 → 1; user 3: 1 → none
    assert sorted(zip(split.test.user_ids.tolist(), split.test.course_ids.tolist(), strict=True)) == [(1, 10), (2, 10)]
    assert split.users.tolist() == [1, 2]
    assert len(split.train) == 6


def test_a_course_already_in_training_is_not_relevant() -> None:
    log = InteractionLog(np.array([1, 1, 1]), np.array([10, 11, 10]), np.zeros(3, np.int8), np.array([1.0, 2.0, 3.0]))
    split = time_split(log, holdout=0.34)  # holds out the view of 10 at t=3, which user 1 had at t=1
    assert len(split.test) == 1 and len(split.users) == 0
