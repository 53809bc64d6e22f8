"""The recommender: fit on courses and interactions, then recommend for one user or precompute for all.

A :class:`Recommender` is built whole by :meth:`Recommender.fit` (the nightly or on-demand
refit) and then only read, except for :meth:`upsert_course` / :meth:`remove_course`, which keep
the content model and the exclusions current between refits. Reads are safe from many threads;
writes are not concurrent with reads (the serving side swaps in a freshly fitted instance, and
applies course changes under its own lock).

Three models (content, item-item collaborative filtering, popularity with recency) are blended
per user by how much history the user has; see :mod:`core.recommend.ranking`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from core.recommend.collaborative import item_neighbors
from core.recommend.config import RecommenderConfig
from core.recommend.content import ContentModel
from core.recommend.courses import CourseDoc, CourseIndex
from core.recommend.histories import Histories, history_matrices
from core.recommend.neighbors import Neighbors
from core.recommend.popularity import Popularity
from core.recommend.ranking import Code, Models, Ranked, rank
from core.recommend.reasons import Reason, ReasonKind, Recommendation
from core.recommend.signals import Interaction, InteractionLog
from core.recommend.token_cache import TokenCache
from core.tokens import tokens

__all__ = ["Recommender", "TopN"]

_KIND = {
    Code.BOUGHT_TOGETHER: ReasonKind.BOUGHT_TOGETHER,
    Code.STUDIED: ReasonKind.STUDIED,
    Code.POPULAR: ReasonKind.POPULAR,
    Code.NEW: ReasonKind.NEW,
    Code.SEARCH: ReasonKind.SEARCH,
}


@dataclass(frozen=True)
class TopN:
    """The precomputed top-N as columns (row r: user ``user_ids[r]``); -1 marks an empty place.

    Cheaper than :meth:`lists` to store in bulk (one row per user and place).
    """

    user_ids: npt.NDArray[np.int64]
    course_ids: npt.NDArray[np.int64]  # users × n
    scores: npt.NDArray[np.float32]
    reasons: npt.NDArray[np.int8]  # ranking.Code values
    anchor_course_ids: npt.NDArray[np.int64]

    def lists(self) -> dict[int, list[Recommendation]]:
        """``{user id: [Recommendation, …]}``, best first (Reason objects are shared between users)."""
        made: dict[tuple[int, int], Reason] = {}
        out: dict[int, list[Recommendation]] = {}
        rows = zip(
            self.user_ids.tolist(),
            self.course_ids.tolist(),
            self.scores.tolist(),
            self.reasons.tolist(),
            self.anchor_course_ids.tolist(),
            strict=True,
        )
        for user, courses, scores, codes, anchors in rows:
            recs: list[Recommendation] = []
            for course, score, code, anchor in zip(courses, scores, codes, anchors, strict=True):
                if course < 0:
                    break
                reason = made.get((code, anchor))
                if reason is None:
                    reason = made[(code, anchor)] = Reason(_KIND[Code(code)], anchor if anchor >= 0 else None)
                recs.append(Recommendation(course, score, reason))
            out[user] = recs
        return out


class Recommender:
    def __init__(
        self,
        courses: CourseIndex,
        content: ContentModel,
        cf: Neighbors,
        popularity: Popularity,
        histories: Histories,
        config: RecommenderConfig,
        now: datetime,
        token_cache: TokenCache,
    ) -> None:
        self.courses = courses
        self.content = content
        self.cf = cf
        self.popularity = popularity
        self.histories = histories
        self.config = config
        self.now = now
        self.token_cache = token_cache
        self._models: Models | None = None

    @classmethod
    def fit(
        cls,
        courses: Sequence[CourseDoc],
        interactions: Iterable[Interaction] | InteractionLog,
        now: datetime,
        config: RecommenderConfig | None = None,
        *,
        token_cache: TokenCache | None = None,
    ) -> Recommender:
        """Fit every model. ``courses``: the published catalog (nothing else is ever recommended).

        Interactions with courses not in ``courses`` are ignored. ``token_cache`` (kept and updated)
        spares jieba the courses whose texts did not change since it was filled.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        config = config or RecommenderConfig()
        cache = token_cache if token_cache is not None else TokenCache()
        index = CourseIndex(courses)
        content = ContentModel.fit(cache.tokens_for(index.docs), config.neighbors, config.threads)
        log = InteractionLog.coerce(interactions)
        items = index.lookup(log.course_ids)
        known = items >= 0
        log, items = log.take(known), items[known]
        t = now.timestamp()
        histories = Histories.build(log, items, len(index), config, t)
        cf = item_neighbors(histories.weights, config.neighbors, alpha=config.cf_alpha, threads=config.threads)
        popularity = Popularity.fit(log, items, index.created, config, t)
        return cls(index, content, cf, popularity, histories, config, now, cache)

    # -- reading ---------------------------------------------------------------------------------------

    @property
    def user_ids(self) -> npt.NDArray[np.int64]:
        """Every user known at fit time (sorted)."""
        return self.histories.user_ids

    def models(self) -> Models:
        if self._models is None:
            pop = self.popularity
            self._models = Models(
                self.cf.graph(),
                self.content.neighbors.graph(),
                pop.score,
                pop.is_new,
                self.courses.categories,
                self.courses.live,
                self.config,
            )
        return self._models

    def recommend(
        self,
        user_id: int,
        n: int | None = None,
        *,
        exclude: Collection[int] = (),
        history: Sequence[Interaction] | None = None,
        queries: Sequence[str] = (),
        now: datetime | None = None,
    ) -> list[Recommendation]:
        """The top ``n`` for one user, best first, computed now (under a millisecond on 5,000 courses).

        ``history``, when given, replaces what the fit saw of this user (the caller's is fresher);
        this is how a user who arrived after the fit gets personal results at once. ``queries``
        (their searches) add content matches. A user with neither gets popularity. ``exclude``:
        course ids never to return (owned, refunded). ``now`` (default: the fit's) ages ``history``.
        ``n`` defaults to ``config.n``.
        """
        n = self.config.n if n is None else n
        n_courses = len(self.courses)
        if history is not None:
            log = InteractionLog.from_interactions(history)
            items = self.courses.lookup(log.course_ids)
            known = items >= 0
            log, items = log.take(known), items[known]
            t = (now or self.now).timestamp()
            rows = np.zeros(len(items), np.int64)
            weights, seen = history_matrices(rows, items, log, (1, n_courses), self.config, t)
        else:
            row = self.histories.row_of(user_id)
            if row is not None:
                weights, seen = self.histories.weights[row], self.histories.seen[row]
            else:
                weights = seen = sp.csr_matrix((1, n_courses), dtype=np.float32)
        query_scores = None
        if queries:
            query_scores = sum((self.content.query_scores(tokens(q)) for q in queries), np.zeros(n_courses, np.float32))
        ranked = rank(self.models(), weights, seen, n, exclude=self._exclusions([exclude]), queries=query_scores)
        return self._table(np.asarray([user_id], np.int64), ranked).lists()[user_id]

    def top_n(
        self,
        n: int | None = None,
        *,
        exclude: Mapping[int, Collection[int]] | None = None,
        users: Collection[int] | None = None,
    ) -> TopN:
        """The top ``n`` (default ``config.n``) of every user known at fit time, as columns, in batches on threads.

        ``users``: only these (users unknown at fit time are skipped). ``exclude``: per user, course ids
        never to return (owned, refunded).
        """
        n = self.config.n if n is None else n
        all_ids = self.histories.user_ids
        if users is not None:
            wanted = np.unique(np.fromiter(users, np.int64, len(users)))
            rows = np.searchsorted(all_ids, wanted)
            rows = rows[(rows < len(all_ids)) & (all_ids[np.minimum(rows, len(all_ids) - 1)] == wanted)]
        else:
            rows = np.arange(len(all_ids))
        models = self.models()
        size = self.config.batch_users

        def batch(start: int) -> Ranked:
            # contiguous rows slice a CSR matrix without copying index arrays around
            part: slice | npt.NDArray[np.int64] = (
                slice(start, start + size) if users is None else rows[start : start + size]
            )
            excluded = None
            if exclude:
                excluded = self._exclusions([exclude.get(int(u), ()) for u in all_ids[part]])
            h = self.histories
            return rank(models, h.weights[part], h.seen[part], n, exclude=excluded)

        starts = range(0, len(rows), size)
        if self.config.threads > 1 and len(rows) > size:
            with ThreadPoolExecutor(self.config.threads) as pool:
                parts = list(pool.map(batch, starts))
        else:
            parts = [batch(s) for s in starts]
        if not parts:
            empty = np.zeros((0, n), np.int32)
            parts = [Ranked(empty, np.zeros((0, n), np.float32), np.zeros((0, n), np.int8), empty)]
        ranked = Ranked(
            np.vstack([p.items for p in parts]),
            np.vstack([p.scores for p in parts]),
            np.vstack([p.reasons for p in parts]),
            np.vstack([p.anchors for p in parts]),
        )
        return self._table(all_ids[rows], ranked)

    def top_n_all(
        self, n: int | None = None, *, exclude: Mapping[int, Collection[int]] | None = None
    ) -> dict[int, list[Recommendation]]:
        """The precomputed top-N: ``{user id: recommendations}`` for every user known at fit time."""
        return self.top_n(n, exclude=exclude).lists()

    # -- course changes between refits ------------------------------------------------------------------

    def upsert_course(self, course: CourseDoc) -> None:
        """A course was published or edited: the content model knows it now (milliseconds, no refit).

        A new course has no collaborative data until the next refit; content similarity and the
        "new" boost make it recommendable at once.
        """
        i, _new = self.courses.upsert(course)
        doc = self.token_cache.tokens_for([course])[0]
        self.content.upsert(i, doc)
        n = len(self.courses)
        self.cf.grow(n)
        self.histories.grow(n)
        created = course.created_at.timestamp() if course.created_at is not None else float("nan")
        self.popularity.set_course(i, created)
        self._models = None

    def remove_course(self, course_id: int) -> None:
        """A course was unpublished: it is never recommended again (it stays in users' histories)."""
        i = self.courses.remove(course_id)
        if i is not None:
            self.content.remove(i)
            self._models = None

    # -- helpers -----------------------------------------------------------------------------------------

    def _exclusions(self, per_row: Sequence[Collection[int]]) -> sp.csr_matrix | None:
        if not any(per_row):
            return None
        lengths = [len(x) for x in per_row]
        ids = np.fromiter((c for x in per_row for c in x), np.int64, sum(lengths))
        items = self.courses.lookup(ids)
        rows = np.repeat(np.arange(len(per_row)), lengths)
        keep = items >= 0
        shape = (len(per_row), len(self.courses))
        return sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows[keep], items[keep])), shape=shape)

    def _table(self, user_ids: npt.NDArray[np.int64], ranked: Ranked) -> TopN:
        ids = self.courses.ids
        if len(ids) == 0:
            ids = np.zeros(1, np.int64)  # every place is empty (-1) anyway
        course_ids = np.where(ranked.items >= 0, ids[np.maximum(ranked.items, 0)], -1)
        anchors = np.where(ranked.anchors >= 0, ids[np.maximum(ranked.anchors, 0)], -1)
        return TopN(user_ids, course_ids, ranked.scores, ranked.reasons, anchors)
