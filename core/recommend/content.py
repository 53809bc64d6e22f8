"""Content-based model: TF-IDF on jieba tokens of title, tags and texts; courses ranked by cosine similarity.

Why: it knows a course from the day it is published (no learner needs to have taken it), it
works for a learner with one course in their history, and it explains itself ("because you
studied 《…》" points at the history course with the most similar text).

Terms are weighted by field (a title word counts 3×, a tag 2×, a description word once), then
sublinear TF × smoothed IDF (as scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``), rows
L2-normalized, so a dot product is the cosine. Only the top-k neighbours of each course are kept
(see :mod:`core.recommend.neighbors`).

Similarities are computed exactly, but in two parts: the few very common terms (课程, 学习 …,
each in a large share of courses) as a small dense matrix through BLAS, the long tail as a
sparse product. A sparse product alone costs the sum of squared document frequencies, which
those few terms dominate.

:meth:`ContentModel.upsert` re-vectorizes one course, recomputes IDF and the TF-IDF matrix (a
few milliseconds of sparse arithmetic) and that course's similarity to every other course. The
other courses' neighbour lists were computed with the old IDF; they are exact again at the next
refit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from core.recommend.neighbors import Neighbors
from core.recommend.token_cache import CourseTokens

__all__ = ["FIELD_WEIGHTS", "ContentModel"]

#: title, tags, body
FIELD_WEIGHTS = (3.0, 2.0, 1.0)
#: Terms in more than this share of courses go through the dense (BLAS) part of the similarity.
DENSE_DF_SHARE = 0.02

F32 = npt.NDArray[np.float32]
Row = tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]


class ContentModel:
    def __init__(self, k: int, threads: int = 1) -> None:
        self.k = k
        self.threads = threads
        self.vocab: dict[str, int] = {}
        self.rows: list[Row] = []
        self.tfidf: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.idf: F32 = np.zeros(0, np.float32)
        self.df: npt.NDArray[np.int64] = np.zeros(0, np.int64)
        self.neighbors = Neighbors(np.full((0, k), -1, np.int32), np.zeros((0, k), np.float32))

    @classmethod
    def fit(cls, docs: Sequence[CourseTokens], k: int, threads: int = 1) -> ContentModel:
        model = cls(k, threads)
        model.rows = [model._row(d) for d in docs]
        model._vectorize()
        model._all_neighbors()
        return model

    def __len__(self) -> int:
        return len(self.rows)

    def upsert(self, i: int, doc: CourseTokens) -> None:
        """Course ``i`` (``len(self)`` for a new one) has these tokens now."""
        row = self._row(doc)
        if i == len(self.rows):
            self.rows.append(row)
        else:
            self.rows[i] = row
        self._vectorize()
        sims = np.asarray((self.tfidf @ self.tfidf[i].T).toarray()).ravel()
        self.neighbors.update(i, sims.astype(np.float32))

    def remove(self, i: int) -> None:
        """Course ``i`` is gone: it frees its places in other courses' neighbour lists."""
        self.neighbors.clear(i)

    def query_scores(self, terms: Sequence[str]) -> F32:
        """Cosine of a query (its tokens) with every course; zeros when no term is known."""
        counts: dict[int, float] = {}
        for t in terms:
            j = self.vocab.get(t)
            if j is not None and j < len(self.idf):
                counts[j] = counts.get(j, 0.0) + 1.0
        n = len(self.rows)
        if not counts or n == 0:
            return np.zeros(n, np.float32)
        cols = np.fromiter(counts, np.int32, len(counts))
        vals = (1.0 + np.log(np.fromiter(counts.values(), np.float32, len(counts)))) * self.idf[cols]
        vals /= np.linalg.norm(vals)
        q = sp.csr_matrix((vals, (np.zeros(len(cols), np.int32), cols)), shape=(1, self.tfidf.shape[1]))
        return np.asarray((self.tfidf @ q.T).toarray(), np.float32).ravel()

    def _row(self, doc: CourseTokens) -> Row:
        acc: dict[int, float] = {}
        vocab = self.vocab
        for weight, terms in zip(FIELD_WEIGHTS, doc, strict=True):
            for t in terms:
                j = vocab.get(t)
                if j is None:
                    j = vocab[t] = len(vocab)
                acc[j] = acc.get(j, 0.0) + weight
        return np.fromiter(acc, np.int32, len(acc)), np.fromiter(acc.values(), np.float32, len(acc))

    def _vectorize(self) -> None:
        n, v = len(self.rows), len(self.vocab)
        lengths = np.fromiter((len(r[0]) for r in self.rows), np.int64, n)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.concatenate([r[0] for r in self.rows]) if n else np.zeros(0, np.int32)
        counts = np.concatenate([r[1] for r in self.rows]) if n else np.zeros(0, np.float32)
        df = np.bincount(indices, minlength=v)
        self.idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        data = ((1.0 + np.log(counts)) * self.idf[indices]).astype(np.float32)
        norms = np.sqrt(np.bincount(np.repeat(np.arange(n), lengths), weights=data * data, minlength=n))
        norms[norms == 0] = 1.0
        data /= np.repeat(norms, lengths).astype(np.float32)
        self.tfidf = sp.csr_matrix((data, indices, indptr), shape=(n, v))
        self.df = df

    def _all_neighbors(self) -> None:
        n = len(self.rows)
        if n == 0:
            return
        common = np.flatnonzero(self.df > max(DENSE_DF_SHARE * n, 8))
        rare_mask = np.ones(self.tfidf.shape[1], np.bool_)
        rare_mask[common] = False
        csc = self.tfidf.tocsc()
        dense = np.ascontiguousarray(csc[:, common].toarray(), np.float32)  # n × |common|, small
        rare = csc[:, np.flatnonzero(rare_mask)].tocsr()
        rare_t = rare.T.tocsr()

        def rows(start: int, stop: int) -> F32:
            out = dense[start:stop] @ dense.T
            out += (rare[start:stop] @ rare_t).toarray()
            return out

        self.neighbors = Neighbors.build(rows, n, self.k, threads=self.threads)
