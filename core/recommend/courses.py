"""The courses the recommender may recommend, and the dense index each one has in its matrices.

:class:`CourseDoc` is what the recommender knows of a course: the texts the content model reads,
the category the diversity rule counts, and when it was created (the "new" boost). Unpublished
courses are simply not given to :meth:`Recommender.fit`, or are removed later; a removed course
keeps its index (so matrices need no reshuffle) but is never recommended again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

__all__ = ["CourseDoc", "CourseIndex"]

_Columns = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.bool_], npt.NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class CourseDoc:
    id: int
    slug: str
    title: str
    summary: str
    description: str
    category: str
    tags: tuple[str, ...]
    language: str  # "zh" or "en"
    created_at: datetime | None = None  # tz-aware; None: not "new"


class CourseIndex:
    """Course id ↔ matrix index, categories as small ints, which courses are live, when each was created."""

    def __init__(self, courses: Sequence[CourseDoc]) -> None:
        self._arrays: _Columns | None = None
        self.docs: list[CourseDoc] = []
        self.index_of: dict[int, int] = {}
        self._categories: dict[str, int] = {}
        self._category: list[int] = []
        self._live: list[bool] = []
        self._created: list[float] = []
        for course in courses:
            self.upsert(course)

    def __len__(self) -> int:
        return len(self.docs)

    def upsert(self, course: CourseDoc) -> tuple[int, bool]:
        """Add a course or replace its document; returns its index and whether it is new."""
        category = self._categories.setdefault(course.category, len(self._categories))
        created = course.created_at.timestamp() if course.created_at is not None else float("nan")
        index = self.index_of.get(course.id)
        if index is None:
            index = len(self.docs)
            self.index_of[course.id] = index
            self.docs.append(course)
            self._category.append(category)
            self._live.append(True)
            self._created.append(created)
            self._arrays = None
            return index, True
        self.docs[index] = course
        self._category[index] = category
        self._live[index] = True
        self._created[index] = created
        self._arrays = None
        return index, False

    def remove(self, course_id: int) -> int | None:
        index = self.index_of.get(course_id)
        if index is not None:
            self._live[index] = False
            self._arrays = None
        return index

    def _columns(self) -> _Columns:
        if self._arrays is None:
            self._arrays = (
                np.fromiter((d.id for d in self.docs), np.int64, len(self.docs)),
                np.asarray(self._category, np.int32),
                np.asarray(self._live, np.bool_),
                np.asarray(self._created, np.float64),
            )
        return self._arrays

    @property
    def ids(self) -> npt.NDArray[np.int64]:
        return self._columns()[0]

    @property
    def categories(self) -> npt.NDArray[np.int32]:
        return self._columns()[1]

    @property
    def live(self) -> npt.NDArray[np.bool_]:
        return self._columns()[2]

    @property
    def created(self) -> npt.NDArray[np.float64]:
        """POSIX seconds, NaN where unknown."""
        return self._columns()[3]

    def lookup(self, course_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The index of each course id, -1 for ids this index does not hold (vectorized)."""
        ids = self.ids
        if len(ids) == 0:
            return np.full(len(course_ids), -1, np.int64)
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        pos = np.clip(np.searchsorted(sorted_ids, course_ids), 0, len(ids) - 1)
        found = sorted_ids[pos] == course_ids
        return np.where(found, order[pos], -1).astype(np.int64)
