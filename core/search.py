"""Plain catalog search: case-insensitive matching on title, tags, category and summary.

A deliberately simple ranking (title hits weigh most) that works for
Chinese without segmentation by matching substrings. Issue 6 replaces it
with jieba + BM25; the signature stays.
"""

from __future__ import annotations

import re

from core.catalog import Course

__all__ = ["search_courses"]

_SPLIT = re.compile(r"[\s,，。、;；:：!！?？]+")


def search_courses(courses: list[Course], query: str, *, limit: int = 20) -> list[Course]:
    terms = [t for t in _SPLIT.split(query.lower()) if t][:10]
    if not terms:
        return []
    scored: list[tuple[float, int, Course]] = []
    for course in courses:
        title = course.title.lower()
        tags = " ".join(course.tags).lower() + " " + course.category.lower() + " " + course.slug
        body = (course.summary + " " + course.description).lower()
        score = 0.0
        for term in terms:
            score += 3.0 * (term in title) + 2.0 * (term in tags) + 1.0 * (term in body)
        if score:
            scored.append((-score, course.id, course))
    scored.sort(key=lambda item: item[:2])
    return [c for _, _, c in scored[:limit]]
