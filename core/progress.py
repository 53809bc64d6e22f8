"""Per-user, per-lesson progress: when a lesson was delivered and when it was done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Progress"]


@dataclass(frozen=True, slots=True)
class Progress:
    user_id: int
    lesson_id: int
    course_id: int
    delivered_at: datetime | None
    completed_at: datetime | None
