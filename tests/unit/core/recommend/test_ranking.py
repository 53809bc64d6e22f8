"""Anchors when the pruned neighbour lists are not symmetric (course i in j's top k, j not in i's)."""

from __future__ import annotations

import numpy as np

from core.recommend.neighbors import Neighbors
from core.recommend.ranking import _anchors


def test_anchor_found_through_the_other_courses_list() -> None:
    # 0 → [1]; 1 → [2] (0 did not make 1's top 1); 2 → [1]
    graph = Neighbors(np.array([[1], [2], [1]], np.int32), np.array([[0.5], [0.9], [0.9]], np.float32)).graph()
    history = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]], np.float32)  # user 0 took course 0, user 1 course 2
    anchors = _anchors(history, graph, np.array([0, 1]), np.array([1, 1], np.int32))
    assert anchors.tolist() == [0, 2]  # user 0 via 0's list (fallback), user 1 via 1's own list
    assert _anchors(history, graph, np.array([0]), np.array([2], np.int32)).tolist() == [-1]  # nothing relates


def test_neighbour_update_replaces_the_weakest() -> None:
    n = Neighbors.build(lambda a, b: np.array([[0, 0.2, 0.1], [0.2, 0, 0.3], [0.1, 0.3, 0]], np.float32)[a:b], 3, 1)
    assert n.idx.ravel().tolist() == [1, 2, 1]
    n.update(3, np.array([0.9, 0.0, 0.05, 1.0], np.float32))  # a new course 3, very close to course 0
    assert n.idx[3].tolist() == [0] and n.idx[0].tolist() == [3]
    assert n.idx[2].tolist() == [1]  # 0.05 does not beat 2's neighbour (0.3)
