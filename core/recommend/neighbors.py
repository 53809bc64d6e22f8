"""The k most similar courses of each course: the pruned item-item matrix both models score with.

Keeping only the top k neighbours per course (k = 40 by default) is the classic item-kNN choice: it drops
the long tail of weak, noisy similarities, which usually *improves* precision, and it makes
scoring every user cheap (a user's history row times a matrix with k entries per row). Rows are
computed in blocks, densely, so memory stays at ``block × courses`` floats whatever the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

__all__ = ["Graph", "Neighbors", "top_k"]

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]


def top_k(block: F32, k: int) -> tuple[I32, F32]:
    """Per row, the columns of the ``k`` largest positive values (-1 / 0 where fewer), best first."""
    b, n = block.shape
    k = min(k, n)
    if k == 0:
        return np.full((b, 0), -1, np.int32), np.zeros((b, 0), np.float32)
    part = np.argpartition(block, n - k, axis=1)[:, n - k :] if n > k else np.tile(np.arange(n), (b, 1))
    values = np.take_along_axis(block, part, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    idx: I32 = np.take_along_axis(part, order, axis=1).astype(np.int32)
    sim: F32 = np.take_along_axis(values, order, axis=1).astype(np.float32)
    weak = sim <= 0
    idx[weak] = -1
    sim[weak] = 0.0
    return idx, sim


@dataclass(frozen=True)
class Graph:
    """A read-only snapshot of :class:`Neighbors` in the shapes scoring needs."""

    rows: sp.csr_matrix  # row j: j's neighbours (scoring: history row × this)
    columns: sp.csc_matrix  # column i: the courses that have i among their neighbours
    idx: I32
    sim: F32


class Neighbors:
    """``idx[i]``: the courses most similar to course ``i`` (-1: empty slot); ``sim[i]``: their similarities."""

    def __init__(self, idx: I32, sim: F32) -> None:
        self.idx = idx
        self.sim = sim
        self._csr: sp.csr_matrix | None = None

    @classmethod
    def build(cls, rows: Callable[[int, int], F32], n: int, k: int, *, block: int = 512, threads: int = 1) -> Neighbors:
        """``rows(start, stop)`` returns the dense similarity rows of courses ``start:stop`` against all ``n``."""

        def one(start: int) -> tuple[I32, F32]:
            stop = min(start + block, n)
            dense = np.asarray(rows(start, stop), np.float32)
            dense[np.arange(stop - start), np.arange(start, stop)] = 0.0  # a course is not its own neighbour
            return top_k(dense, k)

        starts = range(0, n, block)
        if threads > 1 and n > block:
            with ThreadPoolExecutor(threads) as pool:
                parts = list(pool.map(one, starts))
        else:
            parts = [one(s) for s in starts]
        if not parts:
            return cls(np.full((0, k), -1, np.int32), np.zeros((0, k), np.float32))
        idx = np.vstack([p[0] for p in parts])
        sim = np.vstack([p[1] for p in parts])
        if idx.shape[1] < k:  # fewer courses than k
            pad = k - idx.shape[1]
            idx = np.hstack([idx, np.full((n, pad), -1, np.int32)])
            sim = np.hstack([sim, np.zeros((n, pad), np.float32)])
        return cls(idx, sim)

    def __len__(self) -> int:
        return len(self.idx)

    def matrix(self) -> sp.csr_matrix:
        """The pruned similarity matrix (courses × courses, row i holds i's neighbours); cached until changed."""
        if self._csr is None:
            n, k = self.idx.shape
            keep = self.idx >= 0
            rows = np.repeat(np.arange(n, dtype=np.int32), k)[keep.ravel()]
            self._csr = sp.csr_matrix((self.sim[keep], (rows, self.idx[keep])), shape=(n, n), dtype=np.float32)
        return self._csr

    def graph(self) -> Graph:
        m = self.matrix()
        return Graph(m, m.tocsc(), self.idx.copy(), self.sim.copy())

    def grow(self, n: int) -> None:
        """Make room for courses up to index ``n - 1`` (new courses start with no neighbours)."""
        extra = n - len(self.idx)
        if extra > 0:
            k = self.idx.shape[1]
            self.idx = np.vstack([self.idx, np.full((extra, k), -1, np.int32)])
            self.sim = np.vstack([self.sim, np.zeros((extra, k), np.float32)])
            self._csr = None

    def clear(self, i: int) -> None:
        """Course ``i`` has no neighbours and is nobody's neighbour (its similarities are unknown)."""
        self.idx[i] = -1
        self.sim[i] = 0.0
        hit = self.idx == i
        self.idx[hit] = -1
        self.sim[hit] = 0.0
        self._csr = None

    def update(self, i: int, sims: F32) -> None:
        """Course ``i``'s similarities to every course changed (``sims``, length n): fix row i and the others' rows.

        Row ``i`` becomes its top k. Every other row keeps i only if i still beats that row's weakest
        neighbour; O(n × k), well under a millisecond per thousand courses.
        """
        self.grow(len(sims))
        sims = np.asarray(sims, np.float32).copy()
        sims[i] = 0.0
        k = self.idx.shape[1]
        row_idx, row_sim = top_k(sims[None, :], k)
        self.idx[i, : row_idx.shape[1]] = row_idx[0]
        self.sim[i, : row_sim.shape[1]] = row_sim[0]
        self.idx[i, row_idx.shape[1] :] = -1
        self.sim[i, row_sim.shape[1] :] = 0.0
        hit = self.idx == i
        hit[i] = False
        self.idx[hit] = -1  # i's old place in others' rows: re-offered below with its new similarity
        self.sim[hit] = 0.0
        weakest = self.sim.argmin(axis=1)
        rows = np.flatnonzero(sims > self.sim[np.arange(len(self.sim)), weakest])
        rows = rows[rows != i]
        self.idx[rows, weakest[rows]] = i
        self.sim[rows, weakest[rows]] = sims[rows]
        self._csr = None
