"""Course search: BM25F ranking over title, tags, summary and description, in Chinese, English or both.

Contract:

- Only published courses are ever returned: unpublished ones are not indexed, whatever the caller passes.
- A course matches when it shares at least one token with the query (:func:`core.tokens.tokens`: jieba
  search mode for Chinese, lower-cased words for English). Matches scoring below ``relative_floor`` × the
  best score are dropped, so one common word ("课程", "course") cannot drag the whole catalog into a result.
- Order: score, then course id ascending. The same catalog and query always give the same list.
- Typos: an English query word of 4+ letters that occurs nowhere in the catalog is matched to title words
  within 1 edit (4–5 letters) or 2 edits (6+; transpositions count once), at a reduced weight.
- :meth:`SearchIndex.update` makes the index match exactly the courses it is given. Only courses whose
  texts changed are segmented again (jieba is the costly part: ~1 ms per 1,000 characters); the numeric
  index is then re-assembled from the cached per-course term counts with numpy/scipy, which takes tens of
  milliseconds for 10,000 courses. Readers never see a half-built index: every update publishes a new
  immutable snapshot, and updates are serialized, so an update may run in a worker thread while
  :meth:`SearchIndex.search` answers on another.

Why BM25F (Robertson, Zaragoza & Taylor 2004) rather than per-field scores summed: a word that is in the
title *and* the tags *and* the description is one piece of evidence seen three times, not three pieces.
BM25F adds the field-weighted, length-normalized term counts first and saturates once, so the title boost
ranks "Python for Beginners" above a course that merely mentions Python five times in its description,
without letting repetition run away. See docs/search.md for the parameters and the measurements.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from operator import is_
from typing import Any

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA
from scipy.sparse import csc_matrix

from core.catalog import Course
from core.tokens import add_terms, terms_added_since, tokens

__all__ = ["FIELDS", "Bm25f", "SearchIndex", "search_courses", "substring_search"]

FIELDS = ("title", "tags", "summary", "description")  # tags: the tags and the category
MAX_QUERY_TOKENS = 32

_NDArray = Any  # numpy arrays (numpy's own stubs are too strict about dtypes to help here)
_TextKey = tuple[str, tuple[str, ...], str, str, str]


@dataclass(frozen=True, slots=True)
class Bm25f:
    """Ranking parameters, one weight and one length normalization ``b`` per field (in :data:`FIELDS` order)."""

    k1: float = 1.2
    weights: tuple[float, float, float, float] = (6.0, 2.0, 1.5, 1.0)
    b: tuple[float, float, float, float] = (0.5, 0.3, 0.6, 0.75)
    relative_floor: float = 0.1
    fuzzy: bool = True
    fuzzy_weight: float = 0.7  # per edit: one edit counts 0.7 of an exact word, two 0.49


@dataclass(frozen=True, slots=True)
class _Doc:
    """One course's cached analysis: unique term ids, their count per field, and the field lengths."""

    key: _TextKey
    terms: _NDArray  # int64 (n,)
    tf: _NDArray  # float32 (n, 4)
    lengths: tuple[int, int, int, int]
    title_words: tuple[str, ...]  # Latin title words, for typo matching


@dataclass(frozen=True, slots=True)
class _Snapshot:
    courses: tuple[Course, ...]  # row -> course, by id ascending, so a row number breaks ties like the id
    indptr: _NDArray  # CSC of the rows x terms matrix of BM25F weights
    rows: _NDArray
    weights: _NDArray
    n_terms: int
    title_words: tuple[str, ...]  # sorted, unique


_EMPTY = _Snapshot((), np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0), 0, ())


def _text_key(c: Course) -> _TextKey:
    return (c.title, c.tags, c.category, c.summary, c.description)


def _is_word(token: str) -> bool:
    return token.isascii() and token.isalpha()


class SearchIndex:
    """An in-memory index of the published catalog (see the module docstring for the contract)."""

    def __init__(self, params: Bm25f | None = None) -> None:
        self.params = params or Bm25f()
        self._lock = threading.Lock()
        self._vocab: dict[str, int] = {}  # append-only: a term keeps its column for the life of the index
        self._docs: dict[int, _Doc] = {}
        self._snap = _EMPTY
        self._input: list[Course] | None = None
        self._dictionary = 0  # how many phrases jieba had added (core.tokens) when the cached tokens were cut
        self.segmented = 0  # courses segmented by the last update (tests and benchmarks read it)

    @property
    def ready(self) -> bool:
        """True once a first :meth:`update` has finished."""
        return self._input is not None

    def __len__(self) -> int:
        return len(self._snap.courses)

    def is_current(self, courses: list[Course]) -> bool:
        """True if ``courses`` holds the very objects of the last update (a ~0.1 ms check for 10,000)."""
        last = self._input
        return last is not None and len(last) == len(courses) and all(map(is_, last, courses))

    # ------------------------------------------------------------------ updating

    def update(self, courses: Iterable[Course]) -> None:
        """Make the index match ``courses`` (its published ones): add, re-segment changed, drop missing."""
        given = list(courses)
        with self._lock:
            live = sorted({c.id: c for c in given if c.published}.values(), key=lambda c: c.id)
            changed = {c.id: c for c in live if (d := self._docs.get(c.id)) is None or d.key != _text_key(c)}
            gone = self._docs.keys() - {c.id for c in live}
            # Titles and tags are domain terms. A phrase new to jieba (from these courses, or published
            # since) may cut a text differently now: cached texts containing one are segmented again.
            add_terms(t for c in changed.values() for t in (c.title, *c.tags, c.category))
            fresh = terms_added_since(self._dictionary)
            if fresh and self._docs:
                for c in live:
                    if c.id not in changed and c.id in self._docs:
                        blob = "\n".join((c.title, *c.tags, c.category, c.summary, c.description))
                        if any(term in blob for term in fresh):
                            changed[c.id] = c
            for course_id in gone:
                del self._docs[course_id]
            for c in changed.values():
                self._docs[c.id] = self._analyze(c)
            self.segmented = len(changed)
            self._dictionary += len(fresh)  # only now: had segmenting failed, the next update would try again
            if changed or gone or not self.ready:
                self._snap = self._assemble(live)
            else:  # same texts: only the course objects (a price, a cover…) may differ
                self._snap = replace(self._snap, courses=tuple(live))
            self._input = given

    def _analyze(self, course: Course) -> _Doc:
        texts = (course.title, " ".join((*course.tags, course.category)), course.summary, course.description)
        counts: dict[int, list[int]] = {}
        lengths = [0, 0, 0, 0]
        title_words: tuple[str, ...] = ()
        for field, text in enumerate(texts):
            toks = tokens(text)
            lengths[field] = len(toks)
            if field == 0:
                title_words = tuple(sorted({t for t in toks if _is_word(t) and len(t) >= 3}))
            for tok, n in Counter(toks).items():
                col = self._vocab.get(tok)
                if col is None:
                    col = self._vocab[tok] = len(self._vocab)
                counts.setdefault(col, [0, 0, 0, 0])[field] = n
        terms = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.array(list(counts.values()), dtype=np.float32).reshape(len(counts), 4)
        return _Doc(_text_key(course), terms, tf, (lengths[0], lengths[1], lengths[2], lengths[3]), title_words)

    def _assemble(self, live: list[Course]) -> _Snapshot:
        """The BM25F weight of every (course, term): idf(t) · x(k1+1)/(k1+x), x = Σ_f w_f·tf_f / norm_f."""
        if not live:
            return _EMPTY
        p = self.params
        docs = [self._docs[c.id] for c in live]
        n, n_terms = len(docs), len(self._vocab)
        lengths = np.array([d.lengths for d in docs], dtype=np.float64)
        per_doc = np.fromiter((len(d.terms) for d in docs), dtype=np.int64, count=n)
        rows = np.repeat(np.arange(n, dtype=np.int64), per_doc)
        cols = np.concatenate([d.terms for d in docs])
        tf = np.concatenate([d.tf for d in docs])
        b = np.array(p.b)
        avg = np.maximum(lengths.mean(axis=0), 1.0)
        scale = np.array(p.weights) / (1.0 - b + b * lengths / avg)  # (n, 4): w_f / norm_f per course
        x = np.einsum("ij,ij->i", tf, scale[rows], dtype=np.float64)
        df = np.bincount(cols, minlength=n_terms)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        data = idf[cols] * x * (p.k1 + 1.0) / (p.k1 + x)
        m = csc_matrix((data, (rows, cols)), shape=(n, n_terms))
        words = tuple(sorted({w for d in docs for w in d.title_words}))
        return _Snapshot(tuple(live), m.indptr, m.indices, m.data, n_terms, words)

    # ------------------------------------------------------------------ searching

    def search(self, query: str, *, limit: int = 20) -> list[Course]:
        """The best ``limit`` published courses for ``query``, best first (empty when nothing matches)."""
        snap = self._snap
        if not snap.courses or limit <= 0:
            return []
        wanted = self._query_columns(snap, query)
        if not wanted:
            return []
        scores = np.zeros(len(snap.courses))
        for col, weight in wanted.items():
            a, b = snap.indptr[col], snap.indptr[col + 1]
            scores[snap.rows[a:b]] += weight * snap.weights[a:b]  # rows are unique within a column
        hits = np.flatnonzero(scores)
        if not hits.size:
            return []
        found = scores[hits]
        keep = found >= found.max() * self.params.relative_floor
        hits, found = hits[keep], found[keep]
        order = np.lexsort((hits, -found))[:limit]
        return [snap.courses[i] for i in hits[order]]

    def _query_columns(self, snap: _Snapshot, query: str) -> dict[int, float]:
        """Index columns to score and their weights: the query's tokens, typo matches at a discount."""
        wanted: dict[int, float] = {}
        indptr = snap.indptr
        for tok, n in Counter(tokens(query)[:MAX_QUERY_TOKENS]).items():
            col = self._vocab.get(tok)
            if col is not None and col < snap.n_terms and indptr[col + 1] > indptr[col]:
                wanted[col] = wanted.get(col, 0.0) + n
            elif self.params.fuzzy and len(tok) >= 4 and _is_word(tok) and snap.title_words:
                edits = 1 if len(tok) <= 5 else 2
                for word, dist, _ in process.extract(
                    tok, snap.title_words, scorer=OSA.distance, score_cutoff=edits, limit=3
                ):
                    col = self._vocab[word]
                    wanted[col] = wanted.get(col, 0.0) + n * self.params.fuzzy_weight**dist
        return wanted


def search_courses(courses: list[Course], query: str, *, limit: int = 20) -> list[Course]:
    """One-off search of ``courses`` (builds a throwaway index: for small lists; the bot keeps a live index)."""
    index = SearchIndex()
    index.update(courses)
    return index.search(query, limit=limit)


_SPLIT = re.compile(r"[\s,，。、;；:：!！?？]+")


def substring_search(courses: list[Course], query: str, *, limit: int = 20) -> list[Course]:
    """The plain ranking the bot had before issue 6: case-insensitive substrings of the query's words in the
    title (3), tags, category and slug (2), summary and description (1); ties by id.

    No segmentation and no index, so it answers at once: the stand-in while a big catalog's first index is
    being built (:mod:`core.catalog_search`), and the baseline of ``bench/search.py``. Linear in the
    catalog's text (tens of ms for 10,000 courses).
    """
    terms = [t for t in _SPLIT.split(query.lower()) if t][:10]
    if not terms:
        return []
    scored: list[tuple[float, int, Course]] = []
    for course in courses:
        if not course.published:
            continue
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
