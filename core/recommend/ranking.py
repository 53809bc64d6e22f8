"""Scoring a batch of users: blend the models, drop exclusions, diversify, explain.

For a batch of ``b`` users this works on dense ``b × courses`` arrays, which is what makes the
precomputed top-N for 100,000 users a matter of seconds: two sparse products (history ×
pruned item-item matrices), a handful of vectorized array operations, one ``argpartition``.

1. **Blend** (see :class:`~core.recommend.config.RecommenderConfig`): the collaborative and the
   content score of a course are history-weighted averages of its similarity to the user's
   courses (a weak similarity stays weak, however long the history), mixed
   with popularity using weights that depend on how many courses the user has in their
   history: none → popularity only; more history → more collaborative filtering. Popularity
   also multiplies the personal part (``1 + popularity_boost × popularity``), so among
   equally relevant courses the popular one wins, while an irrelevant popular course does not
   beat a relevant one. Search
   queries, when given, add a content score of their own (scaled to [0, 1] per user).
2. **Exclude**: courses the user has seen (per ``exclude_seen``), the caller's exclusions (owned,
   refunded) and removed courses get -inf and are never returned.
3. **Diversify**: among the first ``diversity_top`` results, at most ``per_category`` courses of
   one category: the best candidate that does not break the cap takes each place (greedy, which
   here equals "the first ``diversity_top`` allowed candidates in score order"). The remaining
   places follow the score. If the candidates cannot satisfy the cap (a one-category catalog),
   the places are filled by score anyway.
4. **Explain**: the model that contributed most to a course's blended score names the reason;
   for the two item-item models the anchor is the history course most related to it
   (see :func:`_anchors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from core.recommend.config import RecommenderConfig
from core.recommend.neighbors import Graph

__all__ = ["Code", "Models", "Ranked", "rank"]

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]

#: Extra candidates beyond ``n`` considered for the diversity rule.
EXTRA_CANDIDATES = 40


class Code(IntEnum):
    """Reason codes in :class:`Ranked` (mapped to :class:`~core.recommend.reasons.ReasonKind`)."""

    BOUGHT_TOGETHER = 0
    STUDIED = 1
    POPULAR = 2
    NEW = 3
    SEARCH = 4


@dataclass(frozen=True)
class Models:
    cf: Graph  # top-k collaborative neighbours per course
    content: Graph  # top-k content neighbours per course
    popularity: F32  # [0, 1]
    is_new: npt.NDArray[np.bool_]
    categories: I32
    live: npt.NDArray[np.bool_]
    config: RecommenderConfig


@dataclass(frozen=True)
class Ranked:
    """Per user (row), ``n`` places: course index (-1: empty), blended score, reason code, anchor index (-1)."""

    items: I32
    scores: F32
    reasons: npt.NDArray[np.int8]
    anchors: I32


def _inverse_row_max(m: F32) -> F32:
    top = m.max(axis=1) if m.shape[1] else np.zeros(m.shape[0], np.float32)
    top[top <= 0] = 1.0
    return (1.0 / top).astype(np.float32)


def _set_inf(total: F32, mask: sp.csr_matrix | None) -> None:
    if mask is not None and mask.nnz:
        rows = np.repeat(np.arange(mask.shape[0]), np.diff(mask.indptr))
        total[rows, mask.indices] = -np.inf


def rank(
    models: Models,
    weights: sp.csr_matrix,
    seen: sp.csr_matrix,
    n: int,
    *,
    exclude: sp.csr_matrix | None = None,
    queries: F32 | None = None,
) -> Ranked:
    """Top ``n`` for each row of ``weights`` (users × courses history), excluding ``seen`` and ``exclude``."""
    cfg = models.config
    b, courses = weights.shape
    h = np.diff(weights.indptr).astype(np.float32)
    cf = np.asarray((weights @ models.cf.rows).toarray(), np.float32)
    cb = np.asarray((weights @ models.content.rows).toarray(), np.float32)
    # Each item-item model's score is the history-weighted *average* similarity, so its scale does not
    # grow with the history and a weak similarity stays weak; the weights then depend on the history's size.
    total_weight = np.asarray(weights.sum(axis=1), np.float32).ravel()
    total_weight[total_weight <= 0] = 1.0
    a = (h / (h + np.float32(cfg.cf_ramp)) / total_weight).astype(np.float32)
    c = (np.float32(cfg.content_weight) / total_weight).astype(np.float32)
    g = (np.float32(cfg.popularity_weight) / (1.0 + h)).astype(np.float32)
    total = cf * a[:, None]
    total += cb * c[:, None]
    # Popular among the relevant: a multiplicative prior on the personal part (a vector, broadcast in place).
    boost = (1.0 + np.float32(cfg.popularity_boost) * models.popularity).astype(np.float32)
    total *= boost[None, :]
    total += np.multiply.outer(g, models.popularity)
    q = None
    if queries is not None:
        q = np.array(queries, np.float32, ndmin=2)
        q *= np.float32(cfg.query_weight) * _inverse_row_max(q)[:, None]
        total += q
    if not models.live.all():
        total[:, ~models.live] = -np.inf
    _set_inf(total, seen)
    _set_inf(total, exclude)

    m = min(courses, n + EXTRA_CANDIDATES)
    if m == 0:
        empty = np.full((b, n), -1, np.int32)
        return Ranked(empty, np.zeros((b, n), np.float32), np.full((b, n), -1, np.int8), empty.copy())
    if courses > m:
        cand = np.argpartition(total, courses - m, axis=1)[:, courses - m :]
    else:
        cand = np.tile(np.arange(courses), (b, 1))
    cs = np.take_along_axis(total, cand, axis=1)
    order = np.argsort(-cs, axis=1, kind="stable")
    cand = np.take_along_axis(cand, order, axis=1)
    cs = np.take_along_axis(cs, order, axis=1)
    pick = _diversify(cand, cs, models.categories, cfg)[:, :n]
    items = np.take_along_axis(cand, pick, axis=1).astype(np.int32)
    scores = np.take_along_axis(cs, pick, axis=1).astype(np.float32)
    valid = np.isfinite(scores)
    items[~valid] = -1
    scores[~valid] = 0.0
    if items.shape[1] < n:
        pad = n - items.shape[1]
        items = np.hstack([items, np.full((b, pad), -1, np.int32)])
        scores = np.hstack([scores, np.zeros((b, pad), np.float32)])
        valid = items >= 0

    # Reasons: which model contributed most to each chosen course.
    users, places = np.nonzero(valid)
    chosen = items[users, places]
    parts = np.stack(
        [
            a[users] * cf[users, chosen] * boost[chosen],
            c[users] * cb[users, chosen] * boost[chosen],
            g[users] * models.popularity[chosen],
            q[users, chosen] if q is not None else np.zeros(len(users), np.float32),
        ]
    )
    best = parts.argmax(axis=0)
    code = np.choose(best, [Code.BOUGHT_TOGETHER, Code.STUDIED, Code.POPULAR, Code.SEARCH]).astype(np.int8)
    code[(code == Code.POPULAR) & models.is_new[chosen]] = Code.NEW
    anchor = np.full(len(users), -1, np.int32)
    personal = (code == Code.BOUGHT_TOGETHER) | (code == Code.STUDIED)
    if personal.any():
        history = weights.toarray()
        for reason, graph in ((Code.BOUGHT_TOGETHER, models.cf), (Code.STUDIED, models.content)):
            which = code == reason
            if which.any():
                anchor[which] = _anchors(history, graph, users[which], chosen[which])
    # A model with a positive part always has an anchor; keep the invariant "studied/bought_together has one".
    lost = (anchor < 0) & personal
    code[lost] = np.where(models.is_new[chosen[lost]], Code.NEW, Code.POPULAR)
    reasons = np.full((b, n), -1, np.int8)
    anchors = np.full((b, n), -1, np.int32)
    reasons[users, places] = code
    anchors[users, places] = anchor
    return Ranked(items, scores, reasons, anchors)


def _diversify(cand: npt.NDArray[np.intp], cs: F32, categories: I32, cfg: RecommenderConfig) -> npt.NDArray[np.intp]:
    """The order of candidate places after the diversity rule (see the module docstring)."""
    b, m = cand.shape
    pos = np.broadcast_to(np.arange(m), (b, m))
    valid = np.isfinite(cs)
    if cfg.diversity_top == 0 or m == 0:
        key = np.where(valid, pos, 2 * m + pos)
        return np.argsort(key, axis=1, kind="stable")
    cats = categories[cand]
    same = (cats[:, :, None] == cats[:, None, :]) & valid[:, None, :]
    earlier = np.tri(m, m, -1, dtype=np.bool_)  # earlier[p, q]: q comes before p
    rank_in_category = (same & earlier[None, :, :]).sum(axis=2)
    allowed = valid & (rank_in_category < cfg.per_category)
    first = allowed & (np.cumsum(allowed, axis=1) <= cfg.diversity_top)
    key = np.where(first, pos, m + pos)
    key = np.where(valid, key, 2 * m + pos)
    return np.argsort(key, axis=1, kind="stable")


def _anchors(history: F32, graph: Graph, users: npt.NDArray[np.intp], items: I32) -> I32:
    """For each (user row, course i): the history course j most related to i, weighted by the user's history.

    Looked up first in i's own neighbour list, ranked by ``history[u, j] × sim(i, j)`` (content:
    the cosine, symmetric; collaborative: also driven by the learners i and j share), because a
    short list per course keeps this cheap for a whole batch. A course that reached the user's list
    only through another's list (i among j's top k, j not among i's) is found in the column of the
    pruned matrix, ranked by ``history[u, j] × sim(j, i)``. -1: no history course relates to it.
    """
    cand = graph.idx[items]
    value = history[users[:, None], np.maximum(cand, 0)] * graph.sim[items]
    value[cand < 0] = 0.0
    best = value.argmax(axis=1) if value.shape[1] else np.zeros(len(items), np.intp)
    picked = np.arange(len(items))
    anchor = (
        np.where(value[picked, best] > 0, cand[picked, best], -1).astype(np.int32)
        if value.shape[1]
        else -np.ones(len(items), np.int32)
    )
    missing = np.flatnonzero(anchor < 0)
    if len(missing):
        cols = graph.columns
        start = cols.indptr[items[missing]]
        length = cols.indptr[items[missing] + 1] - start
        pair = np.repeat(np.arange(len(missing)), length)
        offset = np.arange(len(pair)) - np.repeat(np.cumsum(length) - length, length)
        at = start[pair] + offset
        j = cols.indices[at]
        v = cols.data[at] * history[users[missing][pair], j]
        order = np.lexsort((-v, pair))
        pair, j, v = pair[order], j[order], v[order]
        first = np.r_[True, pair[1:] != pair[:-1]] if len(pair) else np.zeros(0, np.bool_)
        found = first & (v > 0)
        anchor[missing[pair[found]]] = j[found]
    return anchor
