"""Offline evaluation: would the recommender have predicted what learners did next?

Method (a per-user time split, as the issue asks):

1. For each learner with at least 2 interactions, the latest ``holdout`` share of their
   interactions (at least one) is held out; everything else is the training set.
2. The recommender is fitted on the training set (``now`` = its latest time) and recommends 10
   courses to every learner who has a *relevant* held-out course: one they interacted with in
   the held-out part and not in the training part (courses they already had are excluded from
   recommendations, so they cannot count).
3. ``precision@10`` = hits / 10 and ``recall@10`` = hits / relevant, averaged over those
   learners; ``coverage`` = the share of the catalog that appears in at least one list.
4. Baselines on the same split, with the same exclusions: ``popularity_precision@10`` (the
   courses with the most distinct learners in the training set) and ``svd_precision@10``
   (scikit-learn ``TruncatedSVD(64)`` on the training user × course matrix, scores U·Σ·Vᵀ).

Known limitation: the split is per user, not global, so the training set holds other learners'
interactions that happened after a given learner's held-out ones (the usual leave-last-out
leak). It flatters every model alike, so the comparisons hold; absolute numbers are optimistic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from core.recommend.config import RecommenderConfig
from core.recommend.dataset import Dataset, DatasetError, load_dataset
from core.recommend.recommender import Recommender
from core.recommend.signals import InteractionLog, decay, signal_weights

__all__ = ["Split", "evaluate", "evaluate_dataset", "svd_top_n", "time_split"]

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Split:
    train: InteractionLog
    test: InteractionLog
    users: I64  # learners with at least one relevant held-out course (sorted)
    relevant: I64  # sorted keys user * stride + course of relevant (user, course) pairs
    stride: int


def time_split(log: InteractionLog, holdout: float = 0.2) -> Split:
    """Hold out each learner's latest ``holdout`` share of interactions (see the module docstring)."""
    order = np.lexsort((log.at, log.user_ids))
    users_sorted = log.user_ids[order]
    starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]]) if len(order) else np.zeros(0, int)
    counts = np.diff(np.r_[starts, len(order)])
    n_test = np.where(counts >= 2, np.maximum(1, np.round(counts * holdout)), 0).astype(np.int64)
    position = np.arange(len(order)) - np.repeat(starts, counts)
    is_test = np.zeros(len(order), np.bool_)
    is_test[order] = position >= np.repeat(counts - n_test, counts)
    train, test = log.take(~is_test), log.take(is_test)
    stride = int(log.course_ids.max()) + 1 if len(log) else 1
    train_keys = np.unique(train.user_ids * stride + train.course_ids)
    test_keys = np.unique(test.user_ids * stride + test.course_ids)
    relevant = np.setdiff1d(test_keys, train_keys, assume_unique=True)
    return Split(train, test, np.unique(relevant // stride), relevant, stride)


def _precision_recall(split: Split, users: I64, courses: I64, k: int) -> tuple[float, float, float]:
    """Mean precision@k and recall@k over ``users`` (rows of ``courses``, -1 = empty), and the distinct courses."""
    keys = users[:, None] * split.stride + courses
    hits = np.isin(keys, split.relevant) & (courses >= 0)
    per_user = np.searchsorted(split.relevant, (users + 1) * split.stride) - np.searchsorted(
        split.relevant, users * split.stride
    )
    n_hits = hits.sum(axis=1)
    return (
        float(np.mean(n_hits / k)),
        float(np.mean(n_hits / np.maximum(per_user, 1))),
        float(len(np.unique(courses[courses >= 0]))),
    )


def _top_k_dense(
    scores: Callable[[I64], npt.NDArray[np.float32]], seen: sp.csr_matrix, rows: I64, k: int, batch: int = 2048
) -> I64:
    """Top ``k`` columns of ``scores(rows)`` per row with ``seen`` (rows × columns) masked out."""
    out = []
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        s = np.array(scores(part), np.float32)
        mask = seen[part]
        s[np.repeat(np.arange(len(part)), np.diff(mask.indptr)), mask.indices] = -np.inf
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(s, top, axis=1), axis=1), axis=1)
        out.append(np.where(np.isfinite(np.take_along_axis(s, top, axis=1)), top, -1))
    return np.vstack(out) if out else np.zeros((0, k), np.int64)


def _user_matrix(log: InteractionLog, users: I64, n_courses: int, values: npt.NDArray[np.float32]) -> sp.csr_matrix:
    rows = np.searchsorted(users, log.user_ids)
    m = sp.csr_matrix((values, (rows, log.course_ids - 1)), shape=(len(users), n_courses), dtype=np.float32)
    m.sum_duplicates()
    return m


def svd_top_n(weights: sp.csr_matrix, rows: I64, k: int = 10, components: int = 64, seed: int = 0) -> I64:
    """The TruncatedSVD baseline: fit on ``weights`` (users × courses), top ``k`` unseen columns for ``rows``."""
    from sklearn.decomposition import TruncatedSVD

    svd = TruncatedSVD(n_components=min(components, min(weights.shape) - 1), random_state=seed)
    factors = svd.fit_transform(weights).astype(np.float32)
    items = svd.components_.astype(np.float32)
    seen = weights.copy()
    seen.data[:] = 1.0
    return _top_k_dense(lambda part: factors[part] @ items, seen, rows, k)


def evaluate_dataset(
    dataset: Dataset, config: RecommenderConfig | None = None, *, holdout: float = 0.2, k: int = 10, svd: bool = True
) -> dict[str, float]:
    """The metrics of the module docstring for an in-memory dataset (course ids 1..n)."""
    config = config or RecommenderConfig()
    split = time_split(dataset.log, holdout)
    if len(split.users) == 0:
        raise DatasetError("no learner has a held-out course they had not seen before: nothing to evaluate")
    now = datetime.fromtimestamp(float(split.train.at.max()), UTC)
    started = time.perf_counter()
    model = Recommender.fit(dataset.courses, split.train, now, config)
    fit_seconds = time.perf_counter() - started
    top = model.top_n(k, users=split.users.tolist())
    precision, recall, distinct = _precision_recall(split, top.user_ids, top.course_ids, k)

    n_courses = len(dataset.courses)
    train_users = np.unique(split.train.user_ids)
    rows = np.searchsorted(train_users, split.users)
    ones = np.ones(len(split.train), np.float32)
    seen = _user_matrix(split.train, train_users, n_courses, ones)
    seen.data[:] = 1.0
    learners = np.asarray(seen.sum(axis=0), np.float32).ravel()
    pop = _top_k_dense(lambda part: np.broadcast_to(learners, (len(part), n_courses)), seen, rows, k) + 1
    pop_precision, _, _ = _precision_recall(split, split.users, np.where(pop > 0, pop, -1), k)
    metrics = {
        f"precision@{k}": precision,
        f"recall@{k}": recall,
        "coverage": distinct / n_courses,
        f"popularity_precision@{k}": pop_precision,
        "fit_seconds": fit_seconds,
        "users_evaluated": float(len(split.users)),
    }
    if svd:
        t = split.train
        w = signal_weights(config.weights)[t.kinds] * decay(t.at, now.timestamp(), config.half_life_days)
        weights = _user_matrix(t, train_users, n_courses, w.astype(np.float32))
        svd_top = svd_top_n(weights, rows, k) + 1
        metrics[f"svd_precision@{k}"] = _precision_recall(split, split.users, np.where(svd_top > 0, svd_top, -1), k)[0]
    return metrics


def evaluate(folder: Path | str, config: RecommenderConfig | None = None, *, svd: bool = True) -> dict[str, float]:
    """Load ``folder`` (courses.jsonl, interactions.csv) and evaluate; raises DatasetError on bad input."""
    return evaluate_dataset(load_dataset(folder), config, svd=svd)
