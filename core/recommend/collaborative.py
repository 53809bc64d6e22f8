"""Item-item collaborative filtering on the sparse user × course matrix.

Two courses are similar when the same learners engaged with both: the cosine of their columns
in the (signal-weighted, time-decayed) user × course matrix. A user's score for a course is the
sum, over their history, of history weight × similarity, with only each course's top-k
neighbours kept (:mod:`core.recommend.neighbors`).

Why item-item rather than a user-user or a factor model: with far more learners than courses,
the course × course matrix is small (5,000² at most, pruned to k per row), it is stable between
refits, it scores a *new* learner from whatever history they bring without refitting, and every
recommendation has a concrete anchor ("learners of 《…》 also took it"). On the synthetic dataset
it is also more precise than a TruncatedSVD factor model (docs/recommendations.md).

The co-occurrence products ``courses[block] × users × courses`` run in blocks of courses on
worker threads (scipy's sparse product releases the GIL), so the peak memory is one dense
``block × courses`` array per thread, not a courses² matrix.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from core.recommend.neighbors import Neighbors

__all__ = ["item_neighbors"]


def item_neighbors(
    weights: sp.csr_matrix, k: int, *, shrink: float = 1.0, alpha: float = 0.5, threads: int = 1
) -> Neighbors:
    """Top-k neighbours of each course (columns of the users × courses ``weights``).

    The similarity of course i *to* course j (row j, column i) is the "asymmetric cosine"
    ``co(i, j) / (|j|^(2 alpha) × |i|^(2 (1 - alpha)) + shrink)``, with ``|x|`` the column norm:
    ``alpha = 0.5`` is the plain cosine, which favours niche courses; ``alpha = 1`` is the share of
    j's learners who also took i, which favours popular ones. ``shrink`` keeps a course seen by a
    handful of learners from a similarity near 1 through a single shared learner.
    """
    x = weights.tocsr().astype(np.float32)
    x.data = np.log1p(x.data)  # one enthusiastic learner should not define a course's neighbours
    n = x.shape[1]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), np.float32).ravel())
    xt = x.T.tocsr()

    def rows(start: int, stop: int) -> npt.NDArray[np.float32]:
        co = np.asarray((xt[start:stop] @ x).toarray(), np.float32)
        co /= norms[start:stop, None] ** (2 * alpha) * norms[None, :] ** (2 * (1 - alpha)) + np.float32(shrink)
        return co

    return Neighbors.build(rows, n, k, threads=threads)
