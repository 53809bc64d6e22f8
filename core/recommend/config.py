"""The recommender's knobs, with the defaults measured on the synthetic dataset (docs/recommendations.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from core.recommend.signals import Signal

__all__ = ["RecommenderConfig"]

_DEFAULT_WEIGHTS: Mapping[Signal, float] = MappingProxyType(
    {Signal.VIEW: 1.0, Signal.LIKE: 1.5, Signal.BUY: 2.0, Signal.COMPLETE: 1.5}
)


@dataclass(frozen=True)
class RecommenderConfig:
    """How signals are weighted, how fast they fade, how the models are blended and diversified.

    Blending for a user with ``h`` distinct courses in their history::

        personal = h / (h + cf_ramp) * cf  +  content_weight * content
        score = personal * (1 + popularity_boost * popularity)  +  popularity_weight / (1 + h) * popularity

    where ``cf`` and ``content`` are history-weighted averages of the course's similarity to the
    user's courses (content: the cosine, in [0, 1]; collaborative: an asymmetric cosine, see
    ``cf_alpha``) and ``popularity`` is in [0, 1]. A user with no history gets popularity only; the
    more history, the more item-item collaborative filtering counts and the less popularity does.
    """

    #: Weight of each signal: a purchase says more than a view. Modest ratios on purpose: a learner
    #: completes many lessons of one course (one COMPLETE each), and a view is still evidence of
    #: interest (on the synthetic data, buy = 4 × view predicted *worse* than 2 ×: docs/recommendations.md).
    weights: Mapping[Signal, float] = field(default_factory=lambda: _DEFAULT_WEIGHTS)
    #: A user's interaction counts half after this many days (tastes move).
    half_life_days: float = 60.0
    #: Popularity counts an interaction half after this many days (trending beats all-time).
    popularity_half_life_days: float = 30.0
    #: Courses created within about this many days get a "new" boost in the popularity model ...
    new_half_life_days: float = 14.0
    #: ... of this share of the popularity score (0 turns it off).
    new_weight: float = 0.25
    #: Neighbours kept per course in the item-item similarity models (content and collaborative).
    neighbors: int = 200
    #: Collaborative similarity of course i to course j: co-occurrence / (|j|^(2α) |i|^(2(1-α))).
    #: 0.5 is the cosine (symmetric, favours niche courses); 1 is "of j's learners, the share who took i"
    #: (favours popular courses). See docs/recommendations.md for how it was chosen.
    cf_alpha: float = 0.7
    #: History size at which collaborative filtering gets half its full weight.
    cf_ramp: float = 2.0
    #: Weight of content similarity (constant: it carries short histories and new courses).
    content_weight: float = 0.2
    #: Popularity as a prior on personal scores: "popular among what is relevant to you".
    popularity_boost: float = 1.0
    #: Popularity on its own, fading as history grows (a user with no history gets only this).
    popularity_weight: float = 0.05
    #: Weight of the user's search queries (``recommend(queries=...)``) against their history.
    query_weight: float = 0.8
    #: Diversity: at most ``per_category`` courses of one category among the first ``diversity_top``.
    diversity_top: int = 5
    per_category: int = 2
    #: Courses with any of these signals from the user are never recommended to them again.
    exclude_seen: frozenset[Signal] = frozenset(Signal)
    #: Default list length.
    n: int = 10
    #: Users scored together in :meth:`Recommender.top_n_all` (memory: batch x courses x 4 bytes x ~4).
    batch_users: int = 256
    #: Worker threads for similarity and batch scoring (numpy/scipy release the GIL).
    threads: int = 2

    def __post_init__(self) -> None:
        if self.neighbors < 1 or self.n < 1 or self.batch_users < 1 or self.threads < 1:
            raise ValueError("neighbors, n, batch_users and threads must be positive")
        if self.per_category < 1 or self.diversity_top < 0:
            raise ValueError("per_category must be positive and diversity_top non-negative")
