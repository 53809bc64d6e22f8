"""Popularity with recency: the cold-start model, and a small prior for everyone.

``trend`` is the signal-weighted count of interactions with each course, faded with a short
half-life (``popularity_half_life_days``): what learners take *lately*, not what was popular a
year ago. ``fresh`` is 1 for a course created now, halving every ``new_half_life_days``, so a
new course, which has no interactions yet, still gets seen. Both are scaled to [0, 1] and mixed
with ``new_weight``. A course ranked by this model carries the reason "new" when freshness
contributed more than the trend, "popular" otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.recommend.config import RecommenderConfig
from core.recommend.signals import InteractionLog, decay, signal_weights

__all__ = ["Popularity"]

F32 = npt.NDArray[np.float32]


def _freshness(created: npt.NDArray[np.float64], now: float, half_life_days: float) -> F32:
    known = ~np.isnan(created)
    out = np.zeros(len(created), np.float32)
    out[known] = decay(created[known], now, half_life_days)
    return out


@dataclass
class Popularity:
    trend: F32  # [0, 1]
    fresh: F32  # [0, 1]
    new_weight: float
    now: float
    new_half_life_days: float

    @classmethod
    def fit(
        cls,
        log: InteractionLog,
        items: npt.NDArray[np.int64],
        created: npt.NDArray[np.float64],
        config: RecommenderConfig,
        now: float,
    ) -> Popularity:
        w = signal_weights(config.weights)[log.kinds] * decay(log.at, now, config.popularity_half_life_days)
        trend = np.bincount(items, weights=w, minlength=len(created)).astype(np.float32)
        top = trend.max() if len(trend) else 0.0
        if top > 0:
            trend /= top
        fresh = _freshness(created, now, config.new_half_life_days)
        return cls(trend, fresh, config.new_weight, now, config.new_half_life_days)

    @property
    def score(self) -> F32:
        return ((1.0 - self.new_weight) * self.trend + self.new_weight * self.fresh).astype(np.float32)

    @property
    def is_new(self) -> npt.NDArray[np.bool_]:
        """Where freshness, not the trend, makes the popularity score."""
        return self.new_weight * self.fresh > (1.0 - self.new_weight) * self.trend

    def set_course(self, i: int, created: float) -> None:
        """Course ``i`` was added or edited: room for it, and its freshness from its creation time."""
        if i >= len(self.trend):
            extra = i + 1 - len(self.trend)
            self.trend = np.concatenate([self.trend, np.zeros(extra, np.float32)])
            self.fresh = np.concatenate([self.fresh, np.zeros(extra, np.float32)])
        self.fresh[i] = _freshness(np.asarray([created]), self.now, self.new_half_life_days)[0]
