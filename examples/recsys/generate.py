#!/usr/bin/env python3
"""A seeded synthetic dataset for the recommender's offline evaluation, tests and benchmark.

Planted structure (what a good recommender should recover):

- **Topics and categories.** 24 topics (Python编程, 茶艺, 股票基金 …) in 9 categories. Every course
  belongs to one topic and one *level* (入门, 进阶, 实战, 专题); its Chinese (85%) or English
  title, summary, description and tags are built from the topic's vocabulary and the level's
  words, plus phrases shared by all courses and sometimes a term of another topic.
- **Learners.** Each has a taste over topics (a sparse Dirichlet: one to three topics), a
  preferred level, and an activity level (log-normal: a few heavy learners, many light ones).
  30% of learners drift to a new topic over their time on the platform (time decay helps).
- **Popularity skew.** Course appeal is log-normal; topics differ in size and appeal. 10% of
  course choices ignore taste and follow global popularity.
- **Signals.** Each course choice is a view; 30% lead to a purchase, 60% of purchases to a
  lesson completion, 12% of views to a like, each a little later. A course browsed while
  exploring is bought and liked four times less often, so purchases say more than views.
- **Time.** A year of interactions ending at ``--end``; 20% of courses were created during that
  year (nobody takes a course before it exists).

Usage (also importable: :func:`generate` returns the dataset in memory)::

    python examples/recsys/generate.py --out DIR --users 2000 --courses 300 --interactions 60000 --seed 7
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: the repository root is not on the path
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from core.recommend.courses import CourseDoc  # noqa: E402
from core.recommend.dataset import Dataset, save_dataset  # noqa: E402
from core.recommend.signals import SIGNALS, InteractionLog, Signal  # noqa: E402
from examples.recsys import topics as vocab  # noqa: E402

LEVELS = (
    (("零基础", "从零开始学", "轻松学", "一次学会"), ("入门", "启蒙课", "基础班", "新手指南"), "Beginners"),
    (("高手进阶：", "系统掌握", "深入理解"), ("进阶指南", "精讲", "进阶课", "核心30讲"), "Advanced"),
    (("实战", "项目驱动：", "案例拆解："), ("实战课", "训练营", "案例课", "项目实战"), "Projects"),
    (("21天", "专题：", "高效"), ("全攻略", "速成班", "专题课", "考前冲刺"), "Intensive"),
)
P_BUY, P_COMPLETE, P_LIKE, P_EXPLORE, P_DRIFT = 0.30, 0.60, 0.12, 0.10, 0.30
DAY = 86400.0


@dataclass(frozen=True)
class Synthetic:
    dataset: Dataset
    course_topic: npt.NDArray[np.int64]  # topic index of course id i + 1
    course_level: npt.NDArray[np.int64]
    user_taste: npt.NDArray[np.float64]  # users × topics, the taste at their start


def _pick(rng: np.random.Generator, items: tuple[str, ...], k: int = 1) -> list[str]:
    return [items[i] for i in rng.choice(len(items), size=min(k, len(items)), replace=False)]


def _zh_course(rng: np.random.Generator, t: vocab.Topic, level: int, other: vocab.Topic) -> tuple[str, ...]:
    prefixes: tuple[str, ...] = LEVELS[level][0]
    suffixes: tuple[str, ...] = LEVELS[level][1]
    if rng.random() > 0.7:
        prefixes, suffixes = vocab.ZH_PREFIXES, vocab.ZH_SUFFIXES
    t1, t2, t3, t4, t5 = _pick(rng, t.terms, 5)
    main = t.name if rng.random() < 0.5 else t1
    shape = rng.integers(3)
    if shape == 0:
        title = f"{_pick(rng, prefixes)[0]}{main}{_pick(rng, suffixes)[0]}"
    elif shape == 1:
        title = f"{main}：从{t2}到{t3}"
    else:
        title = f"{t2}与{t3}{_pick(rng, suffixes)[0]}"
    summary = f"{_pick(rng, vocab.AUDIENCES)[0]}也能学会的{t.name}课程：从{t1}到{t4}，{_pick(rng, vocab.BENEFITS)[0]}。"
    sentences = [
        f"课程共{rng.integers(8, 40)}讲，系统讲解{t1}、{t2}和{t3}。",
        f"通过{rng.integers(3, 20)}个真实案例，你将掌握{t4}的核心技巧，并能用到{_pick(rng, vocab.SCENARIOS)[0]}中。",
        f"讲师拥有{rng.integers(3, 15)}年{t.name}经验，曾帮助上千名学员{_pick(rng, vocab.GOALS)[0]}。",
        f"每节课都配有练习，学完后可以独立完成{t5}相关的小项目。",
        *_pick(rng, vocab.FILLER, int(rng.integers(1, 3))),
    ]
    if rng.random() < 0.2:
        sentences.append(f"课程还会简单介绍{_pick(rng, other.terms)[0]}。")
    tags = [t.name, *_pick(rng, t.terms, int(rng.integers(1, 4)))]
    return title, summary, "".join(sentences), "|".join(tags), "zh"


def _en_course(rng: np.random.Generator, t: vocab.Topic, level: int) -> tuple[str, ...]:
    e1, e2, e3, e4, e5 = _pick(rng, t.en, 5)
    suffix = LEVELS[level][2] if rng.random() < 0.6 else _pick(rng, vocab.EN_SUFFIXES)[0]
    title = f"{_pick(rng, vocab.EN_PREFIXES)[0]} {e1.title()} {suffix}"
    summary = f"Learn {e1} and {e2} step by step, with exercises and Q&A."
    description = (
        f"{rng.integers(8, 40)} lessons covering {e1}, {e2} and {e3}. "
        f"Real-world projects help you apply {e4} at work. "
        f"Taught by an instructor with {rng.integers(3, 15)} years of experience in {e5}. "
        "Lifetime access to recordings."
    )
    return title, summary, description, "|".join([e1, e2]), "en"


def _categorical(
    rng: np.random.Generator, probs: npt.NDArray[np.float64], rows: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """One draw from ``probs[rows[i]]`` per i, vectorized (cumulative sums offset by row)."""
    k = probs.shape[1]
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    flat = (cum + np.arange(len(probs))[:, None]).ravel()
    pos = np.searchsorted(flat, rows + rng.random(len(rows)) * 0.999999, side="right")
    out: npt.NDArray[np.int64] = np.clip(pos - rows * k, 0, k - 1).astype(np.int64)
    return out


def generate(
    users: int = 2000,
    courses: int = 300,
    interactions: int = 60_000,
    seed: int = 7,
    *,
    end: datetime = datetime(2026, 11, 1, tzinfo=UTC),
    days: int = 365,
) -> Synthetic:
    n_topics, n_levels = len(vocab.TOPICS), len(LEVELS)
    if courses < n_topics * n_levels:
        raise ValueError(f"need at least {n_topics * n_levels} courses (one per topic and level)")
    if users < 1 or interactions < users:
        raise ValueError("need at least one user and one interaction per user")
    rng = np.random.default_rng(seed)
    t_end = end.timestamp()
    t_start = t_end - days * DAY

    # Courses: every (topic, level) has at least one; the rest follow uneven topic sizes.
    topic_appeal = rng.dirichlet(np.full(n_topics, 3.0))
    first = np.arange(n_topics * n_levels)
    topic = np.concatenate([first // n_levels, rng.choice(n_topics, courses - len(first), p=topic_appeal)])
    level = np.concatenate([first % n_levels, rng.integers(0, n_levels, courses - len(first))])
    appeal = rng.lognormal(0.0, 1.3, courses)
    new = rng.random(courses) < 0.2
    created = np.where(
        new, rng.uniform(t_start, t_end - 7 * DAY, courses), t_start - rng.uniform(0, 2 * 365 * DAY, courses)
    )
    docs: list[CourseDoc] = []
    for i in range(courses):
        t = vocab.TOPICS[topic[i]]
        other = vocab.TOPICS[int(rng.integers(n_topics))]
        texts = _en_course(rng, t, int(level[i])) if rng.random() < 0.15 else _zh_course(rng, t, int(level[i]), other)
        title, summary, description, tags, language = texts
        at = datetime.fromtimestamp(float(created[i]), UTC).replace(microsecond=0)
        docs.append(
            CourseDoc(
                i + 1,
                f"{t.slug}-{i + 1:05d}",
                title,
                summary,
                description,
                t.category,
                tuple(tags.split("|")),
                language,
                at,
            )
        )

    # Learners: sparse topic taste (some drift), a preferred level, activity.
    taste = rng.dirichlet(np.full(n_topics, 0.1), size=users)
    taste = np.nan_to_num(taste, nan=1.0 / n_topics)
    taste = 0.9 * taste + 0.1 * topic_appeal
    later = (
        0.9 * np.nan_to_num(rng.dirichlet(np.full(n_topics, 0.1), size=users), nan=1.0 / n_topics) + 0.1 * topic_appeal
    )
    later = np.where((rng.random(users) < P_DRIFT)[:, None], 0.5 * taste + 0.5 * later, taste)
    level_taste = 0.25 / n_levels + 0.75 * rng.dirichlet(np.full(n_levels, 0.5), size=users)
    p_buy = P_BUY * (1 - 0.75 * P_EXPLORE)
    per_choice = 1 + p_buy * (1 + P_COMPLETE) + P_LIKE * (1 - 0.75 * P_EXPLORE)
    n_choices = max(users, int(interactions / per_choice * 1.08))  # a little extra, trimmed at random below
    activity = rng.lognormal(0.0, 1.0, users)
    counts = 1 + rng.multinomial(n_choices - users, activity / activity.sum())
    who = np.repeat(np.arange(users), counts)
    start = t_start + rng.uniform(0, 0.9, users) * days * DAY
    span = (t_end - start) * rng.uniform(0.3, 1.0, users)
    tau = rng.random(len(who))
    when = start[who] + tau * span[who]

    # Choices: topic by (drifting) taste, level by preference, course by appeal; some explore.
    late = rng.random(len(who)) < tau
    chosen_topic = np.where(late, _categorical(rng, later, who), _categorical(rng, taste, who))
    chosen_level = _categorical(rng, level_taste, who)
    segment = topic * n_levels + level
    order = np.argsort(segment, kind="stable")
    seg_sorted = segment[order]
    bounds = np.searchsorted(seg_sorted, np.arange(n_topics * n_levels + 1))
    seg_cum = np.empty(courses)
    for s in range(n_topics * n_levels):
        a = appeal[order[bounds[s] : bounds[s + 1]]]
        seg_cum[bounds[s] : bounds[s + 1]] = s + np.cumsum(a) / a.sum()
    want = chosen_topic * n_levels + chosen_level
    pos = np.searchsorted(seg_cum, want + rng.random(len(who)) * 0.999999, side="right")
    pos = np.clip(pos, bounds[want], bounds[want + 1] - 1)
    course = order[pos]
    global_p = appeal * topic_appeal[topic]
    explore = rng.random(len(who)) < P_EXPLORE
    course[explore] = rng.choice(courses, int(explore.sum()), p=global_p / global_p.sum())
    too_early = when < created[course]
    when[too_early] = created[course][too_early] + rng.random(int(too_early.sum())) * (
        t_end - created[course][too_early]
    )

    # Signals: view, then maybe buy (→ complete) and like, each a little later.
    # A course browsed on a whim (exploring) is rarely bought or liked: purchases say more than views.
    buy = rng.random(len(who)) < np.where(explore, P_BUY / 4, P_BUY)
    complete = buy & (rng.random(len(who)) < P_COMPLETE)
    like = rng.random(len(who)) < np.where(explore, P_LIKE / 4, P_LIKE)
    t_buy = when + rng.exponential(DAY, len(who))
    parts = [
        (np.ones(len(who), np.bool_), Signal.VIEW, when),
        (buy, Signal.BUY, t_buy),
        (complete, Signal.COMPLETE, t_buy + rng.uniform(1, 30, len(who)) * DAY),
        (like, Signal.LIKE, when + rng.exponential(3600, len(who))),
    ]
    u = np.concatenate([who[m] for m, _, _ in parts]) + 1
    c = np.concatenate([course[m] for m, _, _ in parts]) + 1
    k = np.concatenate([np.full(int(m.sum()), SIGNALS.index(s), np.int8) for m, s, _ in parts])
    ts = np.minimum(np.concatenate([t[m] for m, _, t in parts]), t_end - 1)
    keep = np.sort(rng.permutation(len(u))[: min(interactions, len(u))])
    u, c, k, ts = u[keep], c[keep], k[keep], np.floor(ts[keep])
    by_time = np.argsort(ts, kind="stable")
    log = InteractionLog(u[by_time].astype(np.int64), c[by_time].astype(np.int64), k[by_time], ts[by_time])
    dataset = Dataset(docs, log, [str(i) for i in range(1, users + 1)])
    return Synthetic(dataset, topic.astype(np.int64), level.astype(np.int64), taste)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Write a seeded synthetic recommendation dataset (courses.jsonl, interactions.csv)."
    )
    p.add_argument("--out", type=Path, required=True, help="the folder to write (created if missing)")
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--courses", type=int, default=300)
    p.add_argument("--interactions", type=int, default=60_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--end", default="2026-11-01T00:00:00+00:00", help="the time of the last interaction (ISO-8601)")
    args = p.parse_args(argv)
    end = datetime.fromisoformat(args.end)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    try:
        synthetic = generate(args.users, args.courses, args.interactions, args.seed, end=end)
    except ValueError as exc:
        p.error(str(exc))
    save_dataset(synthetic.dataset, args.out)
    log = synthetic.dataset.log
    print(
        f"wrote {args.out}: {len(synthetic.dataset.courses)} courses, "
        f"{len(np.unique(log.user_ids))} users, {len(log)} interactions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
