"""Learners' histories as sparse matrices: what every scoring step reads.

``weights[u, c]`` sums the user's interactions with course ``c``, each weighted by its signal
(a purchase more than a view) and faded by age (half-life ``RecommenderConfig.half_life_days``).
``seen[u, c]`` is 1 where the user has a signal that excludes ``c`` from their recommendations
(by default any signal: recommendations are for discovering courses, not for re-offering them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from core.recommend.config import RecommenderConfig
from core.recommend.signals import SIGNALS, InteractionLog, decay, signal_weights

__all__ = ["Histories", "history_matrices"]


def history_matrices(
    rows: npt.NDArray[np.int64],
    items: npt.NDArray[np.int64],
    log: InteractionLog,
    shape: tuple[int, int],
    config: RecommenderConfig,
    now: float,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(weights, seen) for interactions already mapped to matrix rows and course indices."""
    w = signal_weights(config.weights)[log.kinds] * decay(log.at, now, config.half_life_days)
    weights = sp.csr_matrix((w.astype(np.float32), (rows, items)), shape=shape, dtype=np.float32)
    weights.sum_duplicates()
    excluding = np.isin(log.kinds, [SIGNALS.index(s) for s in config.exclude_seen])
    seen = sp.csr_matrix(
        (np.ones(int(excluding.sum()), np.float32), (rows[excluding], items[excluding])), shape=shape, dtype=np.float32
    )
    seen.sum_duplicates()
    seen.data[:] = 1.0
    return weights, seen


@dataclass
class Histories:
    """Every user known at fit time: their row in ``weights`` and ``seen``."""

    user_ids: npt.NDArray[np.int64]  # sorted; row r is user user_ids[r]
    weights: sp.csr_matrix
    seen: sp.csr_matrix

    @classmethod
    def build(
        cls, log: InteractionLog, items: npt.NDArray[np.int64], n_items: int, config: RecommenderConfig, now: float
    ) -> Histories:
        """``items[i]`` is the course index of ``log`` row i (all valid)."""
        user_ids, rows = np.unique(log.user_ids, return_inverse=True)
        weights, seen = history_matrices(rows.astype(np.int64), items, log, (len(user_ids), n_items), config, now)
        return cls(user_ids.astype(np.int64), weights, seen)

    def row_of(self, user_id: int) -> int | None:
        r = int(np.searchsorted(self.user_ids, user_id))
        return r if r < len(self.user_ids) and self.user_ids[r] == user_id else None

    def grow(self, n_items: int) -> None:
        """Room for new courses (their columns are empty)."""
        if n_items > self.weights.shape[1]:
            self.weights.resize((self.weights.shape[0], n_items))
            self.seen.resize((self.seen.shape[0], n_items))
