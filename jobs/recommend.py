"""The recommendation refit (nightly, at start when stale, on demand) and each serving process's live
model (the weekly push is :mod:`jobs.recommend_push`).

Refit (:func:`refit`). Reads the published courses, the signals of the last
``signal_days`` (as numpy columns, no object per row; purchases later refunded
are left out) and what each user owns or had refunded; fits the models off
the event loop (:meth:`core.recommend.Recommender.fit`, in a thread), computes
every known user's top-N, and stores it under a new run, a batch of users per
transaction. Only then does the run go live, in one transaction, and the
previous run's rows are deleted: serving reads either the old lists or the
new ones, never a mix, and a refit that dies half-way leaves the old ones
live. jieba's tokens are kept with the live run (:class:`core.recommend.TokenCache`),
so the next refit tokenizes only courses whose text changed. The fitted model
is installed in this process's :class:`core.recommendations.LiveModel`, which
answers users the refit did not know yet.

Live model in a serving process (:func:`follow`). A process that answers
/recommend but does not run the refit loads the model when a new run goes
live (fitting it from the stored signals, with the stored tokens), and every
few seconds applies catalog changes (an import or publish in another process)
to it: ``upsert_course`` / ``remove_course`` on the courses whose text changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from core.clock import Clock
from core.config import Settings
from core.ports import KeyValueStore, UnitOfWorkFactory
from core.recommend import CourseDoc, InteractionLog, Recommender, RecommenderConfig, TokenCache, TopN
from core.recommendations import TOP_N, LiveModel
from storage.jobs_repo import session_of
from storage.recommend_jobs_repo import SqlRecommendJobs

__all__ = [
    "REFIT_LOCK",
    "RefitReport",
    "follow",
    "load_live",
    "refit",
    "refit_if_stale",
    "refit_now",
    "scheduled_refit",
    "sync_catalog",
]

log = logging.getLogger(__name__)

REFIT_LOCK = "job:recommendation-refit"  # the scheduler's lock of the refit (jobs.scheduler._locked)
STALE = timedelta(hours=24)  # at start, a live run older than this is refitted at once
USERS_PER_TXN = 2000  # users whose rows are written per transaction


# ------------------------------------------------------------------------------------ refit


@dataclass(frozen=True, slots=True)
class RefitReport:
    run_id: int
    users: int  # users with a stored top-N
    rows: int
    courses: int
    interactions: int
    tokenized: int  # courses jieba had to cut (the rest came from the token cache)
    fit_seconds: float  # fit and top-N, without storage


@dataclass(frozen=True, slots=True)
class _Data:
    docs: list[CourseDoc]
    log: InteractionLog
    exclude: dict[int, set[int]]
    cache: TokenCache
    previous: int | None  # the live run when the data was read


async def _read(uow_factory: UnitOfWorkFactory, now: datetime, signal_days: int) -> _Data:
    async with uow_factory() as uow:
        q = SqlRecommendJobs(session_of(uow))
        docs = await q.course_docs()
        log_ = await q.interactions(now - timedelta(days=signal_days))
        refunded = await q.refunded_pairs()
        exclude = await q.exclusions(now)
        live = await q.live_run()
    previous = live.id if live is not None else None
    return _Data(docs, _without(log_, refunded), exclude, _tokens(live.tokens if live is not None else None), previous)


def _without(log_: InteractionLog, pairs: Collection[tuple[int, int]]) -> InteractionLog:
    """The log without any signal of these (user, course) pairs (refunded purchases are no evidence of taste)."""
    if not pairs or not len(log_):
        return log_
    keys = np.fromiter((u * 2**32 + c for u, c in pairs), np.int64, len(pairs))
    return log_.take(~np.isin(log_.user_ids * 2**32 + log_.course_ids, keys))


def _tokens(stored: str | None) -> TokenCache:
    if not stored:
        return TokenCache()
    try:
        return TokenCache.from_dict(json.loads(stored))
    except ValueError:
        log.warning("the stored token cache is unreadable: every course is tokenized again")
        return TokenCache()


async def refit(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    live: LiveModel | None = None,
    *,
    top_n: int = TOP_N,
    signal_days: int = 365,
    config: RecommenderConfig | None = None,
    users_per_txn: int = USERS_PER_TXN,
) -> RefitReport:
    """Fit the models on the stored signals, store every known user's top-N and make it live (see above)."""
    now = clock.now()
    if live is not None:
        live.busy = True
    try:
        data = await _read(uow_factory, now, signal_days)
        async with uow_factory() as uow:
            run_id = await SqlRecommendJobs(session_of(uow)).start_run(now, now)
            await uow.commit()
        try:
            report, model = await _fit_and_store(uow_factory, clock, run_id, data, top_n, config, users_per_txn)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                async with uow_factory() as uow:
                    await SqlRecommendJobs(session_of(uow)).fail_run(
                        run_id, clock.now(), f"{type(exc).__name__}: {exc}"
                    )
                    await uow.commit()
            raise
        if live is not None:
            live.install(model, run_id, data.docs)
    finally:
        if live is not None:
            live.busy = False
    async with uow_factory() as uow:
        deleted = await SqlRecommendJobs(session_of(uow)).cleanup(clock.now())
        await uow.commit()
    log.info(
        "recommendations refitted: run %d, %d users, %d courses, %d signals, %.1f s (%d courses tokenized, "
        "%d old rows deleted)",
        report.run_id,
        report.users,
        report.courses,
        report.interactions,
        report.fit_seconds,
        report.tokenized,
        deleted,
    )
    return report


async def _fit_and_store(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    run_id: int,
    data: _Data,
    top_n: int,
    config: RecommenderConfig | None,
    users_per_txn: int,
) -> tuple[RefitReport, Recommender]:
    now = clock.now()
    started = time.perf_counter()
    model = await asyncio.to_thread(Recommender.fit, data.docs, data.log, now, config, token_cache=data.cache)
    tokenized = data.cache.misses
    top = await asyncio.to_thread(model.top_n, top_n, exclude=data.exclude)
    fallback = model.recommend(0, top_n, history=())  # nobody's history: popular and new courses
    fit_seconds = time.perf_counter() - started
    users = rows = 0
    for start in range(0, len(top.user_ids), users_per_txn):
        part = _slice(top, start, start + users_per_txn)
        lists = {u: recs for u, recs in part.lists().items() if recs}
        async with uow_factory() as uow:
            rows += await SqlRecommendJobs(session_of(uow)).add_rows(run_id, lists)
            await uow.commit()
        users += len(lists)
    data.cache.retain(data.docs)
    tokens = json.dumps(data.cache.to_dict(), ensure_ascii=False, separators=(",", ":"))
    async with uow_factory() as uow:
        ok = await SqlRecommendJobs(session_of(uow)).go_live(
            run_id,
            clock.now(),
            users=users,
            courses=len(data.docs),
            interactions=len(data.log),
            fit_ms=round(fit_seconds * 1000),
            fallback=fallback,
            tokens=tokens,
        )
        await uow.commit()
    if not ok:
        raise RuntimeError(f"refit run {run_id} was no longer building when it finished")
    report = RefitReport(run_id, users, rows, len(data.docs), len(data.log), tokenized, fit_seconds)
    return report, model


def _slice(top: TopN, start: int, end: int) -> TopN:
    return TopN(
        top.user_ids[start:end],
        top.course_ids[start:end],
        top.scores[start:end],
        top.reasons[start:end],
        top.anchor_course_ids[start:end],
    )


async def refit_if_stale(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    live: LiveModel | None = None,
    *,
    max_age: timedelta = STALE,
    top_n: int = TOP_N,
    signal_days: int = 365,
) -> RefitReport | None:
    """:func:`refit` when no run is live or the live one is older than ``max_age`` (the scheduler's catch-up
    at start, so a new install or a scheduler that was down does not wait for the night)."""
    async with uow_factory() as uow:
        current = await SqlRecommendJobs(session_of(uow)).live_run()
    if current is not None and clock.now() - current.as_of < max_age:
        return None
    return await refit(uow_factory, clock, live, top_n=top_n, signal_days=signal_days)


async def refit_now(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    kv: KeyValueStore,
    settings: Settings,
    live: LiveModel | None = None,
) -> RefitReport | None:
    """``bot.py recommend --refit``: one refit at once, under the scheduler's refit lock (None: one is running)."""
    token = await kv.acquire_lock(REFIT_LOCK, 3600)
    if token is None:
        return None
    try:
        return await refit(
            uow_factory, clock, live, top_n=settings.recommend_top_n, signal_days=settings.recommend_signal_days
        )
    finally:
        await kv.release_lock(REFIT_LOCK, token)


def scheduled_refit(
    uow_factory: UnitOfWorkFactory, clock: Clock, live: LiveModel | None, settings: Settings
) -> Callable[[bool], Awaitable[int]]:
    """The scheduler's refit hook (:data:`jobs.scheduler.RecommendationRefit`): returns the users refitted.

    Called with ``only_if_stale`` True by the catch-up at start, False by the nightly run.
    """
    top_n, signal_days = settings.recommend_top_n, settings.recommend_signal_days

    async def run(only_if_stale: bool) -> int:
        if only_if_stale:
            report = await refit_if_stale(uow_factory, clock, live, top_n=top_n, signal_days=signal_days)
        else:
            report = await refit(uow_factory, clock, live, top_n=top_n, signal_days=signal_days)
        return report.users if report is not None else 0

    return run


# ------------------------------------------------------------------------------------ live model


async def load_live(uow_factory: UnitOfWorkFactory, clock: Clock, live: LiveModel, *, signal_days: int = 365) -> bool:
    """Fit this process's live model when a run went live that it does not have yet (True: it did)."""
    async with uow_factory() as uow:
        current = await SqlRecommendJobs(session_of(uow)).live_run()
    if current is None or current.id == live.run_id or live.busy:
        return False
    live.busy = True
    try:
        now = clock.now()
        data = await _read(uow_factory, now, signal_days)
        model = await asyncio.to_thread(Recommender.fit, data.docs, data.log, now, token_cache=data.cache)
        if live.run_id is not None and live.run_id >= current.id:
            return False  # a refit in this process installed a newer model meanwhile
        live.install(model, current.id, data.docs)
    finally:
        live.busy = False
    log.info("recommendations: loaded the live model of run %d", current.id)
    return True


async def sync_catalog(uow_factory: UnitOfWorkFactory, clock: Clock, live: LiveModel) -> tuple[int, int]:
    """Apply catalog changes to the live model: (courses upserted, removed). Cheap when nothing changed."""
    if not live.ready or live.busy:
        return 0, 0
    async with uow_factory() as uow:
        courses = await uow.catalog.list_courses()
    done = live.sync(courses, clock.now())
    if any(done):
        log.info("recommendations: %d courses updated, %d removed in the live model", *done)
    return done


async def follow(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    live: LiveModel,
    stop: asyncio.Event,
    *,
    every: float = 10.0,
    load: bool = True,
    signal_days: int = 365,
) -> None:
    """Keep ``live`` current until ``stop``: load a newly live run's model (with ``load``), apply catalog changes."""
    while not stop.is_set():
        try:
            if load:
                await load_live(uow_factory, clock, live, signal_days=signal_days)
            await sync_catalog(uow_factory, clock, live)
        except Exception:
            log.exception("keeping the live recommender current failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
