#!/usr/bin/env python3
"""Recommendations (issue 6): quality, full refit, the TruncatedSVD anchor, incremental updates, serving.

Data: the repo's seeded generator (``examples/recsys/generate.py``), in memory, by default
100,000 users × 5,000 courses × 2,000,000 interactions (seed 7). Nothing is read from disk.

Phases, in one process (``--threads`` worker threads, 2 by default, as the deployment uses):

``quality``
    :func:`core.recommend.evaluation.evaluate_dataset` on the full dataset: per-user time split
    (latest 20% held out), precision@10, recall@10, coverage, and the popularity and
    TruncatedSVD(64) baselines on the same split.
``refit`` (``--repeats`` times, median and min–max)
    ``cold``: an empty token cache, so jieba tokenizes all courses. ``nightly``: the cache of
    the previous fit, one course edited, so one course is tokenized (the scheduled case).
    Each run is ``Recommender.fit`` (columns in, as the storage side hands them over) then
    ``top_n_all(10)`` for every user (the dict of Recommendation lists the serving side stores);
    ``top_n`` (the same as columns) is timed separately inside it. Peak RSS is the process's
    high-water mark from just before the first refit (reset through /proc/self/clear_refs), so
    it includes the dataset held in memory.
``svd``
    The anchor: scikit-learn ``TruncatedSVD(n_components=64)`` fit on the same users × courses
    matrix plus the top 10 unseen courses for every user (dense scores in batches), timed the
    same way. Our nightly refit is reported as a ratio of it.
``incremental``
    ``upsert_course`` of new and of edited courses, and ``remove_course`` (milliseconds each).
``serving``
    p50/p99 of: a lookup in the precomputed top-N; ``recommend()`` for a known user; for a new
    user with 5 interactions of history; for a new user with a search query.
``ablations`` (only with ``--ablations``)
    The quality phase again with one part of the recommender switched off at a time.
``objects``
    ``InteractionLog.from_interactions`` over 2,000,000 ``Interaction`` objects: what a caller
    pays on top of the refit if it builds objects rather than columns.

Usage::

    nice -n 19 python bench/recommend.py                       # the issue's sizes (~3 min)
    nice -n 19 python bench/recommend.py --users 5000 --courses 500 --interactions 100000 --repeats 1
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/recommend.py` puts bench/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import sklearn  # noqa: E402

from core.recommend import (  # noqa: E402
    Interaction,
    InteractionLog,
    Recommender,
    RecommenderConfig,
    Signal,
    TokenCache,
)
from core.recommend.evaluation import evaluate_dataset, svd_top_n  # noqa: E402
from core.recommend.signals import SIGNALS  # noqa: E402
from core.tokens import warm_up  # noqa: E402
from examples.recsys.generate import generate  # noqa: E402

TARGET_REFIT_S = 20.0
TARGET_RSS_MIB = 1.5 * 1024
TARGET_UPSERT_S = 1.0
TARGET_SERVING_MS = 5.0


def _hwm_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _hwm_mib() -> float:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _stats(values: list[float], scale: float = 1.0) -> dict[str, float]:
    return {
        "median": round(statistics.median(values) * scale, 4),
        "min": round(min(values) * scale, 4),
        "max": round(max(values) * scale, 4),
        "runs": len(values),
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4), "p99_ms": round(float(np.percentile(ms, 99)), 4)}


def _timed(f: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def source_digest() -> str:
    h = hashlib.sha256()
    for path in [*sorted((ROOT / "core" / "recommend").rglob("*.py")), ROOT / "core" / "tokens.py"]:
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    config = RecommenderConfig(threads=args.threads)
    t, synthetic = _timed(lambda: generate(args.users, args.courses, args.interactions, args.seed))
    dataset = synthetic.dataset
    courses, log = dataset.courses, dataset.log
    out["data"] = {
        "users": len(np.unique(log.user_ids)),
        "courses": len(courses),
        "interactions": len(log),
        "kinds": {s.value: int((log.kinds == i).sum()) for i, s in enumerate(SIGNALS)},
        "generate_s": round(t, 2),
    }
    now = datetime.fromtimestamp(float(log.at.max()), UTC)
    warm_up()  # jieba's dictionary: once per process, at start-up in production too

    if not args.skip_quality:
        print("quality …", file=sys.stderr, flush=True)
        q = evaluate_dataset(dataset, config)
        q["precision_over_popularity"] = q["precision@10"] / max(q["popularity_precision@10"], 1e-9)
        q["precision_over_svd"] = q["precision@10"] / max(q["svd_precision@10"], 1e-9)
        out["quality"] = {k: round(v, 4) for k, v in q.items()}

    if args.ablations:
        out["ablations"] = ablations(dataset, config)

    print("refit …", file=sys.stderr, flush=True)
    hwm_exact = _hwm_reset()
    rss_at_start = _hwm_mib()  # right after the reset, the high-water mark is the current RSS
    refit: dict[str, list[float]] = {"cold": [], "nightly": [], "fit": [], "top_n": [], "lists": []}
    misses: dict[str, int] = {}
    cache = TokenCache()
    model = None
    for r in range(args.repeats):
        for mode in ("cold", "nightly"):
            if mode == "cold":
                cache = TokenCache()
                docs = courses
            else:  # the previous fit's cache; one course edited since
                edited = dataclasses.replace(courses[r], description=courses[r].description + f" 更新{r}。")
                docs = [edited, *courses[:r], *courses[r + 1 :]]
            model = None
            started = time.perf_counter()
            t_fit, model = _timed(lambda d=docs, c=cache: Recommender.fit(d, log, now, config, token_cache=c))
            t_top, top = _timed(lambda m=model: m.top_n(10))
            t_lists, lists = _timed(top.lists)
            total = time.perf_counter() - started
            refit[mode].append(total)
            misses[mode] = cache.misses
            if mode == "nightly":
                refit["fit"].append(t_fit)
                refit["top_n"].append(t_top)
                refit["lists"].append(t_lists)
            del top, lists
    out["refit"] = {
        "cold_s": _stats(refit["cold"]),
        "nightly_s": _stats(refit["nightly"]),
        "nightly_fit_s": _stats(refit["fit"]),
        "nightly_top_n_columns_s": _stats(refit["top_n"]),
        "nightly_top_n_lists_s": _stats(refit["lists"]),
        "courses_tokenized": misses,
        "peak_rss_mib": _hwm_mib(),
        "rss_at_refit_start_mib": rss_at_start,
        "peak_rss_from": "refit start (VmHWM reset)" if hwm_exact else "process start (ru_maxrss)",
    }
    assert model is not None

    print("svd anchor …", file=sys.stderr, flush=True)
    weights = model.histories.weights
    rows = np.arange(weights.shape[0])
    svd_runs = [_timed(lambda: svd_top_n(weights, rows, 10, 64))[0] for _ in range(args.repeats)]
    out["svd_anchor_s"] = _stats(svd_runs)
    out["refit_over_svd"] = round(statistics.median(refit["nightly"]) / statistics.median(svd_runs), 3)

    print("incremental …", file=sys.stderr, flush=True)
    rng = random.Random(args.seed)
    new_times, edit_times, remove_times = [], [], []
    next_id = max(c.id for c in courses) + 1
    for i in range(20):
        base = courses[rng.randrange(len(courses))]
        fresh = dataclasses.replace(
            base, id=next_id + i, slug=f"new-{i}", title=f"{base.title}（第{i + 2}版）", created_at=now
        )
        new_times.append(_timed(lambda c=fresh: model.upsert_course(c))[0])
        edit = dataclasses.replace(courses[rng.randrange(len(courses))], summary=f"全新升级的课程内容 {i}")
        edit_times.append(_timed(lambda c=edit: model.upsert_course(c))[0])
        remove_times.append(_timed(lambda c=fresh: model.remove_course(c.id))[0])
    model.recommend(int(model.user_ids[0]))  # rebuilds the scoring snapshot once after the changes
    out["incremental"] = {
        "upsert_new": _percentiles(new_times) | {"max_ms": round(max(new_times) * 1000, 3)},
        "upsert_edit": _percentiles(edit_times) | {"max_ms": round(max(edit_times) * 1000, 3)},
        "remove": _percentiles(remove_times),
    }

    print("serving …", file=sys.stderr, flush=True)
    top_all = model.top_n_all(10)
    users = [int(u) for u in model.user_ids[rng.sample(range(len(model.user_ids)), min(2000, len(model.user_ids)))]]
    lookups = []
    for u in users * 5:
        t0 = time.perf_counter()
        _ = top_all[u][:10]
        lookups.append(time.perf_counter() - t0)
    known = [_timed(lambda u=u: model.recommend(u, 10))[0] for u in users]
    history_times, query_times = [], []
    for i in range(1000):
        picks = rng.sample(courses, 5)
        history = [
            Interaction(10**9 + i, c.id, Signal.BUY if j == 0 else Signal.VIEW, now - timedelta(days=j))
            for j, c in enumerate(picks)
        ]
        history_times.append(_timed(lambda h=history, i=i: model.recommend(10**9 + i, 10, history=h))[0])
        query_times.append(_timed(lambda i=i: model.recommend(10**9 + i, 10, queries=["Python 数据分析"]))[0])
    out["serving"] = {
        "precomputed_lookup": _percentiles(lookups),
        "recommend_known_user": _percentiles(known),
        "recommend_new_user_history5": _percentiles(history_times),
        "recommend_new_user_query": _percentiles(query_times),
    }
    del top_all

    print("objects …", file=sys.stderr, flush=True)
    out["objects_to_columns_s"] = round(_objects_to_columns(log), 3)
    return out


ABLATIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "content only (no collaborative filtering)": {"cf_ramp": 1e12},
    "collaborative only (no content)": {"content_weight": 0.0},
    "no popularity prior": {"popularity_boost": 0.0, "popularity_weight": 0.0},
    "popularity added, not multiplied": {"popularity_boost": 0.0, "popularity_weight": 0.3},
    "no time decay": {"half_life_days": 0.0},
    "no diversity rule": {"diversity_top": 0},
    "all signals weigh 1": {"weights": dict.fromkeys(Signal, 1.0)},
    "heavier purchases (view 1, like 2, buy 4, complete 3)": {
        "weights": {Signal.VIEW: 1.0, Signal.LIKE: 2.0, Signal.BUY: 4.0, Signal.COMPLETE: 3.0}
    },
}


def ablations(dataset: Any, config: RecommenderConfig) -> dict[str, dict[str, float]]:
    out = {}
    for name, change in ABLATIONS.items():
        print(f"ablation: {name} …", file=sys.stderr, flush=True)
        m = evaluate_dataset(dataset, dataclasses.replace(config, **change), svd=False)
        out[name] = {k: round(m[k], 4) for k in ("precision@10", "recall@10", "coverage")}
    return out


def _objects_to_columns(log: InteractionLog) -> float:
    """Seconds to turn the log, as Interaction objects, back into columns."""
    objects = [
        Interaction(u, c, SIGNALS[k], datetime.fromtimestamp(t, UTC))
        for u, c, k, t in zip(
            log.user_ids.tolist(), log.course_ids.tolist(), log.kinds.tolist(), log.at.tolist(), strict=True
        )
    ]
    return _timed(lambda: InteractionLog.from_interactions(objects))[0]


def targets(out: dict[str, Any]) -> dict[str, Any]:
    r, s, inc = out["refit"], out["serving"], out["incremental"]
    t: dict[str, Any] = {
        "refit_nightly_le_20s": r["nightly_s"]["median"] <= TARGET_REFIT_S,
        "peak_rss_le_1.5GB": r["peak_rss_mib"] <= TARGET_RSS_MIB,
        "upsert_le_1s": max(inc["upsert_new"]["max_ms"], inc["upsert_edit"]["max_ms"]) <= TARGET_UPSERT_S * 1000,
        "serving_p99_le_5ms": s["precomputed_lookup"]["p99_ms"] <= TARGET_SERVING_MS,
        "recommend_p99_le_5ms": s["recommend_known_user"]["p99_ms"] <= TARGET_SERVING_MS,
    }
    if "quality" in out:
        q = out["quality"]
        t["precision_ge_2x_popularity"] = q["precision_over_popularity"] >= 2.0
        t["precision_ge_svd"] = q["precision@10"] >= q["svd_precision@10"]
        t["coverage_ge_0.3"] = q["coverage"] >= 0.3
    return t


def report(out: dict[str, Any]) -> str:
    lines = [f"command: {out['command']}  (started {out['started']}, sources {out['source_digest']})"]
    m, d = out["machine"], out["data"]
    lines.append(f"machine: {m['cpus']} cpus, {m['cpu_model']}, Python {m['python']}, sklearn {m['scikit-learn']}")
    lines.append(f"data: {d['users']} users × {d['courses']} courses × {d['interactions']} interactions {d['kinds']}")
    if "quality" in out:
        q = out["quality"]
        lines.append(
            f"quality: precision@10 {q['precision@10']} (popularity {q['popularity_precision@10']}, "
            f"×{q['precision_over_popularity']:.2f}; svd {q['svd_precision@10']}, ×{q['precision_over_svd']:.2f}), "
            f"recall@10 {q['recall@10']}, coverage {q['coverage']}, users {int(q['users_evaluated'])}"
        )
    r = out["refit"]
    lines.append(
        f"refit (fit + top-10 for every user): nightly {r['nightly_s']['median']} s "
        f"[{r['nightly_s']['min']}–{r['nightly_s']['max']}] (fit {r['nightly_fit_s']['median']}, "
        f"top_n {r['nightly_top_n_columns_s']['median']}, lists {r['nightly_top_n_lists_s']['median']}); "
        f"cold {r['cold_s']['median']} s; tokenized {r['courses_tokenized']}; peak RSS {r['peak_rss_mib']} MiB "
        f"({r['rss_at_refit_start_mib']} MiB before the first refit)"
    )
    lines.append(f"svd anchor: {out['svd_anchor_s']['median']} s; refit / svd = {out['refit_over_svd']}")
    inc = out["incremental"]
    lines.append(
        f"incremental: upsert new p50 {inc['upsert_new']['p50_ms']} ms (max {inc['upsert_new']['max_ms']}), "
        f"edit p50 {inc['upsert_edit']['p50_ms']} ms (max {inc['upsert_edit']['max_ms']}), "
        f"remove p50 {inc['remove']['p50_ms']} ms"
    )
    for name, v in out["serving"].items():
        lines.append(f"serving {name}: p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms")
    for name, m in out.get("ablations", {}).items():
        lines.append(
            f"ablation {name}: precision@10 {m['precision@10']}, recall@10 {m['recall@10']}, coverage {m['coverage']}"
        )
    lines.append(f"objects → columns: {out['objects_to_columns_s']} s")
    lines.append(f"load average: {out['loadavg_before']} → {out['loadavg_after']}")
    lines.append("targets: " + ", ".join(f"{k} {'met' if v else 'NOT MET'}" for k, v in out["targets"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--courses", type=int, default=5_000)
    p.add_argument("--interactions", type=int, default=2_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeats", type=int, default=3, help="refit and svd runs (default 3)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-quality", action="store_true", help="skip the offline evaluation phase")
    p.add_argument("--ablations", action="store_true", help="also evaluate with each part switched off")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "recommend.json")
    args = p.parse_args(argv)
    out: dict[str, Any] = {
        "command": " ".join(["python bench/recommend.py", *argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "source_digest": source_digest(),
        "loadavg_before": os.getloadavg(),
    }
    out.update(bench(args))
    out["loadavg_after"] = os.getloadavg()
    out["targets"] = targets(out)
    print(report(out))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
