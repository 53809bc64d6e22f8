"""jieba tokens per course, keyed by a hash of the course's texts, so a refit only tokenizes what changed.

jieba costs about 4 ms per 1,000 characters: 5,000 courses of a few hundred characters take
several seconds, more than everything else in a refit. A course's texts rarely change between
two nightly refits, so its tokens are kept under a hash of (tokenizer version, title, tags,
category, summary, description). The caller may persist the cache between processes with
:meth:`TokenCache.to_dict` / :meth:`TokenCache.from_dict` (plain JSON-able data).

Caveat, accepted: domain terms (titles, tags) are added to jieba's dictionary, so a new course
titled "数据分析实战" may change how an *unchanged* course would now be cut. Its cached tokens
keep the old cut until its text changes. Search-mode cutting also yields the shorter words, so
the difference is small; bump :data:`TOKENIZER_VERSION` to retokenize everything.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from core.recommend.courses import CourseDoc
from core.tokens import add_terms, tokens

__all__ = ["TOKENIZER_VERSION", "CourseTokens", "TokenCache"]

#: Part of every key: change it when core.tokens cuts differently, and every course is retokenized.
TOKENIZER_VERSION = "1"


class CourseTokens(NamedTuple):
    """A course's index terms by field (fields are weighted differently by the content model)."""

    title: tuple[str, ...]
    tags: tuple[str, ...]  # tags and the category
    body: tuple[str, ...]  # summary and description


class TokenCache:
    """Course tokens by content hash. Thread-safe; :attr:`misses` counts courses tokenized by the last call."""

    def __init__(self, entries: Mapping[str, CourseTokens] | None = None) -> None:
        self._entries: dict[str, CourseTokens] = dict(entries or {})
        self._lock = threading.Lock()
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, course: object) -> bool:
        return isinstance(course, CourseDoc) and self.key(course) in self._entries

    @staticmethod
    def key(course: CourseDoc) -> str:
        text = "\x1f".join(
            (
                TOKENIZER_VERSION,
                course.title,
                "\x1e".join(course.tags),
                course.category,
                course.summary,
                course.description,
            )
        )
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    def tokens_for(self, courses: Sequence[CourseDoc]) -> list[CourseTokens]:
        """Every course's tokens, tokenizing only the courses whose texts are not cached."""
        keys = [self.key(c) for c in courses]
        with self._lock:
            missing = [(k, c) for k, c in zip(keys, courses, strict=True) if k not in self._entries]
        self.misses = len({k for k, _ in missing})
        if missing:
            # Every title and tag is a domain term: keep them whole before cutting anything.
            add_terms(_terms(courses))
            fresh = {k: _tokenize(c) for k, c in missing}
            with self._lock:
                self._entries.update(fresh)
        with self._lock:
            return [self._entries[k] for k in keys]

    def retain(self, courses: Iterable[CourseDoc]) -> int:
        """Drop entries of texts no course has any more (edited or removed); returns how many were dropped."""
        keep = {self.key(c) for c in courses}
        with self._lock:
            stale = [k for k in self._entries if k not in keep]
            for k in stale:
                del self._entries[k]
        return len(stale)

    def to_dict(self) -> dict[str, list[list[str]]]:
        """JSON-able: ``{key: [title tokens, tag tokens, body tokens]}``."""
        with self._lock:
            return {k: [list(v.title), list(v.tags), list(v.body)] for k, v in self._entries.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenCache:
        """The inverse of :meth:`to_dict`; entries of the wrong shape are skipped (they are only a cache)."""
        entries: dict[str, CourseTokens] = {}
        for key, value in data.items():
            if (
                isinstance(key, str)
                and isinstance(value, list | tuple)
                and len(value) == 3
                and all(isinstance(part, list | tuple) and all(isinstance(t, str) for t in part) for part in value)
            ):
                entries[key] = CourseTokens(tuple(value[0]), tuple(value[1]), tuple(value[2]))
        return cls(entries)


def _terms(courses: Iterable[CourseDoc]) -> Iterable[str]:
    for c in courses:
        yield c.title
        yield from c.tags


def _tokenize(course: CourseDoc) -> CourseTokens:
    tags = [t for tag in (*course.tags, course.category) for t in tokens(tag)]
    return CourseTokens(
        tuple(tokens(course.title)), tuple(tags), tuple(tokens(course.summary + "\n" + course.description))
    )
