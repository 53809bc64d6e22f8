"""The synthetic recommendation dataset: seeded, complete, and with the structure it claims to plant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from core.recommend.dataset import load_dataset
from core.recommend.signals import SIGNALS
from examples.recsys.generate import generate

ROOT = Path(__file__).resolve().parents[3]


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = (generate(400, 120, 6000, seed=s) for s in (5, 5, 6))
    assert a.dataset.courses == b.dataset.courses
    assert np.array_equal(a.dataset.log.course_ids, b.dataset.log.course_ids)
    assert np.array_equal(a.dataset.log.at, b.dataset.log.at)
    assert not np.array_equal(a.dataset.log.course_ids[:500], c.dataset.log.course_ids[:500])


def test_sizes_kinds_and_time() -> None:
    s = generate(500, 150, 8000, seed=1)
    log = s.dataset.log
    assert len(log) == 8000 and len(s.dataset.courses) == 150
    assert set(np.unique(log.user_ids)) <= set(range(1, 501)) and len(np.unique(log.user_ids)) > 450
    assert {SIGNALS[k] for k in np.unique(log.kinds)} == set(SIGNALS)
    assert np.all(np.diff(log.at) >= 0)  # written in time order
    created = np.array([c.created_at.timestamp() for c in s.dataset.courses if c.created_at])
    assert np.all(log.at >= created[log.course_ids - 1] - 1)  # nobody takes a course before it exists
    zh = sum(c.language == "zh" for c in s.dataset.courses)
    assert 0.7 * 150 < zh < 150  # mostly Chinese, some English
    assert all(c.title and c.description and c.tags and c.category for c in s.dataset.courses)


def test_planted_structure_topics_and_popularity_skew() -> None:
    s = generate(2000, 1000, 40_000, seed=3)
    log = s.dataset.log
    topic_of = s.course_topic[log.course_ids - 1]
    favourite = np.argsort(-s.user_taste, axis=1)[:, :3]
    in_top3 = (favourite[log.user_ids - 1] == topic_of[:, None]).any(axis=1)
    assert in_top3.mean() > 0.6  # learners mostly take courses of their favourite topics (24 topics in all)
    counts = np.sort(np.bincount(log.course_ids, minlength=1001)[1:])[::-1]
    assert counts[:100].sum() > 0.35 * counts.sum()  # the top 10% of courses get over a third of interactions
    assert counts[0] > 10 * np.median(counts)


def test_command_line_writes_a_dataset_the_evaluation_reads(tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ["--out", str(out), "--users", "300", "--courses", "100", "--interactions", "3000", "--seed", "4"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "recsys" / "generate.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "3000 interactions" in result.stdout
    d = load_dataset(out)
    assert len(d.courses) == 100 and len(d.log) == 3000
