#!/usr/bin/env python3
"""Course search on a 10,000-course catalog (issue 6): latency, index build, incremental updates, memory, quality.

What is measured
----------------
The catalog is :func:`search_data.catalog`: seeded, 10,000 published courses (and 50 drafts) in Chinese,
English and both, 150–900 characters each. Everything runs in this one process, with no database: the
search path starts where the storage layer's catalog cache hands over the course list.

``build``
    A cold :meth:`core.search.SearchIndex.update` of the whole catalog (jieba's dictionary is loaded first
    and timed on its own: every process pays it once, whatever it indexes). ``assemble`` is the numeric
    part alone (from cached per-course term counts to the CSC matrix), which every textual change pays.
``latency``
    :meth:`core.catalog_search.CatalogSearch.search` with ``limit=60`` (what /search asks for): a copy of
    the course list (what the catalog cache returns), the "is the index current" check, segmentation of the
    query and the ranking. 9 kinds of query, ``--per-kind`` of each (Chinese words and titles, English words
    and titles, mixed, very common words, 100 characters pasted from a description, typos, misses),
    shuffled, repeated ``--repeat`` times; percentiles are pooled over all repeats.
``baseline``
    The search the bot had before issue 6 (``search_courses`` as it was, copied verbatim below) on the same
    10,000 courses, for a stratified subset of the same queries (``--baseline-per-kind`` per kind), and the
    new search on exactly that subset in the same loop, so the ratio compares like with like.
``nothing found``
    A query that matches nothing, then :meth:`CatalogSearch.popular` (5 % of the courses have sales; the
    sales are memoized as in the bot, so this is the ranking of the popular list, not the SQL query).
``incremental``
    ``SearchIndex.update`` after editing one course (title and description), adding one, unpublishing one,
    and after a catalog reload where nothing changed (new objects, same texts: what every process does when
    its catalog cache expires); plus "edit to searchable": the time from handing the service an edited list
    to the search that finds the new title returning (thread hop included).
``quality``
    On labelled queries (``search_data``): success@1, success@6 (the first page) and MRR, for typo matching
    on and off, and for flat field weights (no title boost). Typo queries are English title words with one
    edit; clean queries are the same without it; the hand-labelled ones are 24 queries a person would type.
``memory``
    RSS after jieba, after the build (the difference is the index), the peak (``ru_maxrss``) once built
    (what a bot process reaches) and the peak of the whole run (extra builds, the baseline, variants).

Usage::

    python bench/search.py [--courses 10000] [--per-kind 500] [--repeat 5] [--builds 3] [--json FILE]

Target (issue 6): p99 of 20 ms or less at 10,000 courses; adding or editing a course searchable within 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import hashlib
import json
import os
import platform
import random
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import search_data as sd  # noqa: E402

from core import tokens  # noqa: E402
from core.catalog import Course  # noqa: E402
from core.catalog_search import CatalogSearch  # noqa: E402
from core.search import Bm25f, SearchIndex  # noqa: E402

TARGET_P99_MS = 20.0
TARGET_UPDATE_S = 1.0


# ------------------------------------------------------------------ the baseline: search_courses before issue 6

_SPLIT = re.compile(r"[\s,，。、;；:：!！?？]+")


def old_search_courses(courses: list[Course], query: str, *, limit: int = 20) -> list[Course]:
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


# ------------------------------------------------------------------ helpers


class _Catalog:
    def __init__(self, courses: list[Course]) -> None:
        self.courses = courses
        rng = random.Random(7)
        sold = rng.sample([c.id for c in courses if c.published], len(courses) // 20)  # 5 % of courses sold
        self.sales = {cid: (rng.randint(1, 400), rng.randint(0, 40)) for cid in sold}

    async def list_courses(self) -> list[Course]:
        return list(self.courses)  # what the catalog cache returns: a new list of the same objects

    async def course_sales(self, since: datetime) -> dict[int, tuple[int, int]]:
        return dict(self.sales)


class _Uow:
    def __init__(self, courses: list[Course]) -> None:
        self.catalog = _Catalog(courses)


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _ms(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(_pct(values, 50) * 1e3, 3),
        "p99_ms": round(_pct(values, 99) * 1e3, 3),
        "max_ms": round(max(values) * 1e3, 3),
    }


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="utf-8") as fh:
        return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def source_digest() -> str:
    h = hashlib.sha256()
    files = [
        ROOT / "bot.py",
        *sorted(p for d in ("core", "handlers", "storage", "bots") for p in (ROOT / d).rglob("*.py")),
    ]
    for path in files:
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
    import jieba
    import numpy
    import rapidfuzz
    import scipy

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "jieba": jieba.__version__,
        "rapidfuzz": rapidfuzz.__version__,
        "platform": platform.platform(),
    }


def with_params(index: SearchIndex, params: Bm25f) -> SearchIndex:
    """The same segmented catalog ranked with other parameters (re-assembled, not re-segmented)."""
    other = copy.copy(index)
    other.params = params
    live = list(index._snap.courses)
    other._snap = other._assemble(live)
    return other


def quality(index: SearchIndex, queries: list[sd.Query]) -> dict[str, float]:
    s1 = s6 = rr = 0.0
    for q in queries:
        ids = [c.id for c in index.search(q.text, limit=60)]
        rank = next((i for i, cid in enumerate(ids) if cid in q.relevant), None)
        if rank is not None:
            s1 += rank == 0
            s6 += rank < 6
            rr += 1 / (rank + 1)
    n = len(queries)
    return {"n": n, "success@1": round(s1 / n, 3), "success@6": round(s6 / n, 3), "mrr": round(rr / n, 3)}


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ------------------------------------------------------------------ the run


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "command": "python bench/search.py " + " ".join(sys.argv[1:]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "source_digest": source_digest(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }
    courses = sd.catalog(args.courses, seed=args.seed)
    live = [c for c in courses if c.published]
    chars = sum(len(c.title) + len(c.summary) + len(c.description) for c in live)
    out["catalog"] = {
        "published": len(live),
        "drafts": len(courses) - len(live),
        "chinese": sum(c.language == "zh" for c in live),
        "characters": chars,
    }
    rss0 = _rss_mib()
    jieba_s = _timed(tokens.warm_up)
    rss_jieba = _rss_mib()

    # ---- build
    index = SearchIndex()
    build_s = _timed(lambda: index.update(courses))
    index._assemble(live)  # one re-assembly: its temporaries are part of what a serving process peaks at
    gc.collect()
    rss_index = _rss_mib()
    peak_serving = _peak_rss_mib()  # jieba, the catalog, one build and one re-assembly: what a bot process has
    # More cold builds, for the spread (the dictionary terms are known by now, so these skip adding them).
    rebuilds = [_timed(lambda: SearchIndex().update(courses)) for _ in range(args.builds - 1)]
    assemble = [_timed(lambda: index._assemble(live)) for _ in range(5)]
    gc.collect()
    gc.freeze()  # as bot.py does once everything long-lived is built
    builds = [build_s, *rebuilds]
    out["build"] = {
        "jieba_load_s": round(jieba_s, 2),
        "first_build_s": round(build_s, 2),
        "builds_s": [round(x, 2) for x in builds],
        "full_build_s": round(statistics.median(builds), 2),
        "ms_per_1000_chars": round(statistics.median(builds) * 1e3 / (chars / 1000), 2),
        "assemble_ms_median": round(statistics.median(assemble) * 1e3, 1),
        "terms": len(index._vocab),
        "postings": int(index._snap.indptr[-1]),
    }
    print(f"built: {out['build']}", flush=True)

    # ---- latency through the service
    known = index._vocab.__contains__
    mix = sd.query_mix(courses, args.per_kind, known, seed=args.seed)
    search = CatalogSearch(index)
    uow: Any = _Uow(courses)
    await search.refresh(courses, wait=True)
    by_kind: dict[str, list[float]] = {}
    index_only: list[float] = []
    batches: list[dict[str, float]] = []
    cpu: list[float] = []  # the thread's CPU time per search: wall time minus waiting for a core
    for _ in range(args.repeat):
        batch: list[float] = []
        for q in mix:
            c0, t0 = time.thread_time(), time.perf_counter()
            await search.search(uow, q.text, limit=60)
            batch.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
            by_kind.setdefault(q.kind, []).append(batch[-1])
        batches.append(_ms(batch))
        for q in mix:
            index_only.append(_timed(lambda q=q: index.search(q.text, limit=60)))
    pooled = [v for vs in by_kind.values() for v in vs]
    out["latency"] = {
        "queries": len(mix),
        "repeat": args.repeat,
        "service_all": _ms(pooled),
        "service_cpu_all": _ms(cpu),
        "service_batches": {
            stat: {
                "median": round(statistics.median(b[stat] for b in batches), 3),
                "min": min(b[stat] for b in batches),
                "max": max(b[stat] for b in batches),
            }
            for stat in ("p50_ms", "p99_ms")
        },
        "index_only_all": _ms(index_only),
        "by_kind": {k: _ms(v) for k, v in sorted(by_kind.items())},
        "results_per_query_median": statistics.median(len(index.search(q.text, limit=60)) for q in mix),
    }
    # ---- nothing found: the search misses, then the popular courses (sales memoized, as in the bot)
    misses = [q.text for q in mix if q.kind == "miss"]
    nothing: list[float] = []
    now = datetime.now(UTC)
    for _ in range(args.repeat):
        for text in misses:
            t0 = time.perf_counter()
            assert not await search.search(uow, text, limit=60)
            await search.popular(uow, now=now, lang="zh", limit=6)
            nothing.append(time.perf_counter() - t0)
    out["latency"]["nothing_found_with_popular"] = _ms(nothing)
    print(f"latency: {out['latency']['service_all']}", flush=True)

    # ---- baseline on a stratified subset, new search on the same subset, interleaved
    rng = random.Random(args.seed)
    subset = [
        q for kind in sorted(by_kind) for q in rng.sample([q for q in mix if q.kind == kind], args.baseline_per_kind)
    ]
    old_t: list[float] = []
    new_t: list[float] = []
    for q in subset:
        old_t.append(_timed(lambda q=q: old_search_courses(live, q.text, limit=60)))
        t0 = time.perf_counter()
        await search.search(uow, q.text, limit=60)
        new_t.append(time.perf_counter() - t0)
    old, new = _ms(old_t), _ms(new_t)
    out["baseline"] = {
        "queries": len(subset),
        "old_search_courses": old,
        "new_same_queries": new,
        "p50_ratio_old_over_new": round(old["p50_ms"] / max(new["p50_ms"], 1e-6), 1),
        "p99_ratio_old_over_new": round(old["p99_ms"] / max(new["p99_ms"], 1e-6), 1),
    }
    print(f"baseline: {out['baseline']}", flush=True)

    # ---- quality: typo matching and the title boost, on labelled queries
    known_words = index._vocab.__contains__
    sets = {
        "typo": sd.typo_queries(live, args.labelled, known_words),
        "clean": sd.clean_queries(live, args.labelled, known_words),
        "hand": sd.hand_labelled(),
    }
    variants = {
        "default": index,
        "no_typo_matching": with_params(index, replace(index.params, fuzzy=False)),
        "flat_field_weights": with_params(index, replace(index.params, weights=(1.0, 1.0, 1.0, 1.0))),
    }
    out["quality"] = {name: {s: quality(ix, qs) for s, qs in sets.items()} for name, ix in variants.items()}
    print(f"quality: {out['quality']}", flush=True)

    # ---- incremental updates
    current = list(courses)
    picks = rng.sample([c for c in live if c.id < sd.ANCHOR_ID], args.updates * 3)
    edit: list[float] = []
    unpublish: list[float] = []
    segmented: list[int] = []
    missed = 0
    for k, c in enumerate(picks[: args.updates]):
        current = [
            replace(x, title=f"{x.title} 第{k}版", description=x.description + " 更新内容。") if x.id == c.id else x
            for x in current
        ]
        edit.append(_timed(lambda cur=current: index.update(cur)))
        segmented.append(index.segmented)
    add = []
    for k in range(args.updates):
        new_course = replace(picks[args.updates + k], id=2_000_000 + k, slug=f"new{k}", title=f"Brand New Course {k}")
        current = [*current, new_course]
        add.append(_timed(lambda cur=current: index.update(cur)))
    for c in picks[2 * args.updates :]:
        current = [replace(x, published=False) if x.id == c.id else x for x in current]
        unpublish.append(_timed(lambda cur=current: index.update(cur)))
    reload = []
    for _ in range(5):
        current = [replace(x) for x in current]
        reload.append(_timed(lambda cur=current: index.update(cur)))
    visible = []
    for k in range(args.updates):
        target = rng.choice([c for c in current if c.published and c.language == "en" and c.id < sd.ANCHOR_ID])
        word = f"zyzzyva{k}"
        current = [replace(x, title=f"{x.title} {word}") if x.id == target.id else x for x in current]
        uow.catalog.courses = current
        t0 = time.perf_counter()
        found = await search.search(uow, word, limit=60)
        visible.append(time.perf_counter() - t0)
        missed += [c.id for c in found] != [target.id]
    out["incremental"] = {
        "courses_segmented_per_edit": sorted(set(segmented)),
        "edits_not_yet_searchable": missed,
    } | {
        name: {"n": len(v), "median_ms": round(statistics.median(v) * 1e3, 1), "max_ms": round(max(v) * 1e3, 1)}
        for name, v in (
            ("edit_one", edit),
            ("add_one", add),
            ("unpublish_one", unpublish),
            ("reload_nothing_changed", reload),
            ("edit_to_searchable", visible),
        )
    }
    print(f"incremental: {out['incremental']}", flush=True)

    out["memory"] = {
        "rss_start_mib": rss0,
        "rss_after_jieba_mib": rss_jieba,
        "rss_after_index_mib": rss_index,
        "index_mib": round(rss_index - rss_jieba, 1),
        "peak_rss_serving_mib": peak_serving,
        "peak_rss_mib": _peak_rss_mib(),
    }
    svc = out["latency"]["service_all"]
    out["targets"] = {
        "p99_ms": svc["p99_ms"],
        "p99_target_ms": TARGET_P99_MS,
        "p99_met": svc["p99_ms"] <= TARGET_P99_MS,
        "edit_to_searchable_max_s": round(max(visible), 3),
        "update_target_s": TARGET_UPDATE_S,
        "update_met": max(visible) <= TARGET_UPDATE_S and max(edit) <= TARGET_UPDATE_S and not missed,
    }
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def summary(out: dict[str, Any]) -> str:
    b, lat, base, inc, mem, t = (out[k] for k in ("build", "latency", "baseline", "incremental", "memory", "targets"))
    lines = [
        f"{out['catalog']['published']} courses ({out['catalog']['chinese']} Chinese), "
        f"{out['catalog']['characters']:,} characters; {out['machine']['cpus']} CPUs; "
        f"load {out['loadavg_before']} -> {out['loadavg_after']}",
        f"build: jieba load {b['jieba_load_s']} s, full build {b['full_build_s']} s (median of {b['builds_s']}) "
        f"({b['ms_per_1000_chars']} ms/1000 chars), re-assembly {b['assemble_ms_median']} ms; "
        f"{b['terms']:,} terms, {b['postings']:,} postings",
        f"search (service path, {lat['service_all']['n']} queries): p50 {lat['service_all']['p50_ms']} ms, "
        f"p99 {lat['service_all']['p99_ms']} ms, max {lat['service_all']['max_ms']} ms; per batch: p50 "
        f"{lat['service_batches']['p50_ms']}, p99 {lat['service_batches']['p99_ms']}; CPU time p50 "
        f"{lat['service_cpu_all']['p50_ms']} ms, p99 {lat['service_cpu_all']['p99_ms']} ms",
    ]
    for kind, s in lat["by_kind"].items():
        lines.append(f"  {kind:9} p50 {s['p50_ms']:7.3f} ms  p99 {s['p99_ms']:7.3f} ms")
    s = lat["nothing_found_with_popular"]
    lines.append(f"  nothing found + popular courses: p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms")
    lines.append(
        f"baseline ({base['queries']} queries): old p50 {base['old_search_courses']['p50_ms']} ms, "
        f"p99 {base['old_search_courses']['p99_ms']} ms; new p50 {base['new_same_queries']['p50_ms']} ms, "
        f"p99 {base['new_same_queries']['p99_ms']} ms; old/new p50 ×{base['p50_ratio_old_over_new']}, "
        f"p99 ×{base['p99_ratio_old_over_new']}"
    )
    for name, s in inc.items():
        if not isinstance(s, dict):
            lines.append(f"incremental {name}: {s}")
            continue
        lines.append(f"incremental {name:22} median {s['median_ms']:7.1f} ms  max {s['max_ms']:7.1f} ms")
    for name, sets in out["quality"].items():
        cells = ", ".join(f"{s} s@1 {v['success@1']} s@6 {v['success@6']} mrr {v['mrr']}" for s, v in sets.items())
        lines.append(f"quality {name}: {cells}")
    lines.append(
        f"memory: jieba {mem['rss_after_jieba_mib'] - mem['rss_start_mib']:.1f} MiB, index {mem['index_mib']} MiB, "
        f"peak RSS {mem['peak_rss_serving_mib']} MiB after the build, {mem['peak_rss_mib']} MiB for the whole run"
    )
    lines.append(
        f"targets: p99 {t['p99_ms']} ms <= {t['p99_target_ms']} ms: {'MET' if t['p99_met'] else 'MISSED'}; "
        f"edit searchable in {t['edit_to_searchable_max_s']} s <= {t['update_target_s']} s: "
        f"{'MET' if t['update_met'] else 'MISSED'}"
    )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--courses", type=int, default=10_000)
    p.add_argument("--per-kind", type=int, default=500, help="latency queries of each of the 9 kinds")
    p.add_argument("--repeat", type=int, default=5, help="batches of the whole query mix")
    p.add_argument("--builds", type=int, default=3, help="cold builds of the whole index")
    p.add_argument("--baseline-per-kind", type=int, default=40)
    p.add_argument("--updates", type=int, default=20, help="edits, additions and unpublishings timed")
    p.add_argument("--labelled", type=int, default=500, help="generated typo (and clean) queries for quality")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "search.json")
    args = p.parse_args()
    out = asyncio.run(run(args))
    text = summary(out)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
