"""Why a course is recommended: every :class:`Recommendation` carries a :class:`Reason`.

The serving side turns a reason into a short sentence in the learner's language
(``studied`` with anchor 《Python 入门》 → "因为你学过《Python 入门》" / "because you studied …").
The recommender only says which model put the course there and which course of the learner's
history weighed most, so the wording stays in the translation catalogs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Reason", "ReasonKind", "Recommendation"]


class ReasonKind(StrEnum):
    STUDIED = "studied"  # similar in content to <anchor>, a course of the learner's history
    BOUGHT_TOGETHER = "bought_together"  # learners of <anchor> also took it (collaborative filtering)
    POPULAR = "popular"  # popular lately (cold start, or nothing personal ranked higher)
    NEW = "new"  # recently published
    SEARCH = "search"  # matches what the learner searched for


@dataclass(frozen=True, slots=True)
class Reason:
    kind: str  # a ReasonKind value
    anchor_course_id: int | None = None  # the history course it relates to (studied, bought_together)


@dataclass(frozen=True, slots=True)
class Recommendation:
    course_id: int
    score: float  # higher is better; comparable within one user's list only
    reason: Reason
