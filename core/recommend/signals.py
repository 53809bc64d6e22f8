"""What learners did with courses: the implicit feedback the recommender learns from.

A learner never rates a course; they view it, buy it, complete its lessons and like it. Each of
those is an :class:`Interaction`, and each kind counts for more or less (a purchase says more
than a view; see :class:`~core.recommend.config.RecommenderConfig`). Recent interactions count
for more than old ones (exponential time decay), because tastes move.

:class:`InteractionLog` is the same data as columns (numpy arrays). A nightly refit reads
millions of rows; building a Python object per row, then reading it back, costs about a second
per million, so the storage side and the offline evaluation hand the recommender columns
directly. Both shapes are accepted by :meth:`Recommender.fit
<core.recommend.recommender.Recommender.fit>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = ["SIGNALS", "Interaction", "InteractionLog", "Signal", "decay", "signal_weights"]

DAY = 86400.0


class Signal(StrEnum):
    """A kind of implicit feedback. The string values are what files and tables store."""

    VIEW = "view"  # opened the course page
    BUY = "buy"  # paid for it (or enrolled for free)
    COMPLETE = "complete"  # completed a lesson of it
    LIKE = "like"  # pressed "like"


#: The column code of each signal in :class:`InteractionLog` is its position here.
SIGNALS: tuple[Signal, ...] = tuple(Signal)
_CODE = {s: i for i, s in enumerate(SIGNALS)}


@dataclass(frozen=True, slots=True)
class Interaction:
    """One thing a learner did with a course, at a time (tz-aware)."""

    user_id: int
    course_id: int
    kind: Signal
    at: datetime


@dataclass(frozen=True, eq=False)
class InteractionLog:
    """Interactions as parallel columns: user ids, course ids, signal codes (see :data:`SIGNALS`), POSIX seconds."""

    user_ids: npt.NDArray[np.int64]
    course_ids: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.int8]
    at: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        if not (len(self.course_ids) == len(self.kinds) == len(self.at) == n):
            raise ValueError("InteractionLog columns must have the same length")

    def __len__(self) -> int:
        return len(self.user_ids)

    @classmethod
    def empty(cls) -> InteractionLog:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.float64))

    @classmethod
    def from_interactions(cls, interactions: Iterable[Interaction]) -> InteractionLog:
        """Columns from objects (about 0.5 s per million rows: prefer building columns at the source)."""
        users: list[int] = []
        courses: list[int] = []
        kinds: list[int] = []
        at: list[float] = []
        code = _CODE
        for it in interactions:
            users.append(it.user_id)
            courses.append(it.course_id)
            kinds.append(code[Signal(it.kind)])
            at.append(it.at.timestamp())
        return cls(
            np.asarray(users, np.int64), np.asarray(courses, np.int64), np.asarray(kinds, np.int8), np.asarray(at)
        )

    @classmethod
    def coerce(cls, interactions: Iterable[Interaction] | InteractionLog) -> InteractionLog:
        return interactions if isinstance(interactions, InteractionLog) else cls.from_interactions(interactions)

    def take(self, which: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> InteractionLog:
        """The rows selected by a boolean mask or an index array."""
        return InteractionLog(self.user_ids[which], self.course_ids[which], self.kinds[which], self.at[which])


def signal_weights(weights: Mapping[Signal, float]) -> npt.NDArray[np.float32]:
    """The weight of each signal code, as an array indexed by :attr:`InteractionLog.kinds`."""
    return np.asarray([float(weights.get(s, 0.0)) for s in SIGNALS], np.float32)


def decay(at: npt.NDArray[np.float64], now: float, half_life_days: float) -> npt.NDArray[np.float32]:
    """``2 ** (-age / half_life)``: 1 now, 0.5 one half-life ago. Future times count as now."""
    age_days = np.maximum(now - at, 0.0) / DAY
    if half_life_days <= 0:
        return np.ones(len(at), np.float32)
    return np.exp2(-age_days / half_life_days).astype(np.float32)
