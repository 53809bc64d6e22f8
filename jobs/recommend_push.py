"""The weekly recommendation push, through the delivery engine.

:func:`plan_push` gives every learner with a precomputed top-N who has not
refused personalized pushes (:data:`core.audiences.MUTE_RECOMMENDATIONS`) and
can be reached on a channel the engine sends on one delivery row
``rec:<user>:<period>`` (one per user and week by default, however often the
job runs), due at ``hour`` on *their* clock: the next such hour, or at once if
it passed less than :data:`GRACE` ago. The delivery engine sends it through
:func:`push_resolver`, which renders the user's top three *at send time*
(something bought meanwhile is left out; a user who muted meanwhile gets
nothing), records what it showed (``recommend_pushes``) and returns the
message: the courses as tracked buttons (``rp:<campaign>.<n>``) and a one-tap
opt-out. Rows belong to one campaign of kind ``recommendation`` per period, so
the engine's limits, retries and reports apply as for any broadcast.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from core.clock import Clock
from core.config import Settings
from core.delivery import CampaignKind, CampaignStatus, Delivery, DeliveryStatus, NewDelivery
from core.errors import Conflict
from core.i18n import translator
from core.ports import UnitOfWorkFactory
from core.recommendations import PUSH_SIZE, LiveModel, push_allowed, recommend_for
from core.replies import Reply
from core.users import DEFAULT_TIMEZONE
from handlers.recommend import push_messages
from jobs.recommend import refit_if_stale
from storage.jobs_repo import SqlJobQueries, session_of
from storage.recommend_jobs_repo import SqlRecommendJobs

__all__ = [
    "BATCH",
    "GRACE",
    "PREFIX",
    "delivery_key",
    "period_of",
    "plan_push",
    "push_now",
    "push_resolver",
    "push_time",
    "scheduled_push",
]

log = logging.getLogger(__name__)

PREFIX = "rec"  # delivery content "rec:<campaign id>", resolved by push_resolver
GRACE = timedelta(hours=3)  # a push hour that passed less than this ago is still today's: send at once
BATCH = 1000  # push candidates per transaction
_MONDAY = date(2001, 1, 1)  # periods of N days count from a Monday, so 7-day periods are calendar weeks

Resolver = Callable[[Delivery], Awaitable[Sequence[Reply] | None]]


def period_of(now: datetime, tz: str, days: int) -> str:
    """The push period ``now`` falls in, on the default timezone's calendar: an ISO week for 7 days."""
    local = now.astimezone(ZoneInfo(tz)).date()
    if days == 7:
        year, week, _ = local.isocalendar()
        return f"{year}w{week:02d}"
    return f"{days}d{(local - _MONDAY).days // days}"


def push_time(now: datetime, tz: str, hour: int, *, grace: timedelta = GRACE) -> datetime:
    """When a user in ``tz`` should get a push planned at ``now``: the next ``hour`` on their clock, or
    ``now`` when today's passed less than ``grace`` ago."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    at = datetime.combine(today, dtime(hour), tzinfo=zone).astimezone(UTC)
    if at >= now:
        return at
    if now - at < grace:
        return now
    return datetime.combine(today + timedelta(days=1), dtime(hour), tzinfo=zone).astimezone(UTC)


def delivery_key(user_id: int, period: str) -> str:
    return f"{PREFIX}:{user_id}:{period}"


async def plan_push(
    uow_factory: UnitOfWorkFactory,
    now: datetime,
    *,
    channels: Collection[str] | None = None,
    hour: int = 10,
    period_days: int = 7,
    tz: str = DEFAULT_TIMEZONE,
    at_once: bool = False,
    batch: int = BATCH,
) -> int:
    """Record this period's push for every eligible user (see the module docstring); how many rows were new.

    ``channels``: those the delivery engine sends on (None: any). ``at_once``: due now rather than at
    each user's local ``hour``.
    """
    period = period_of(now, tz, period_days)
    audience = f"recommendations:{period}"
    async with uow_factory() as uow:
        jobs = SqlRecommendJobs(session_of(uow))
        run = await jobs.live_run()
        if run is None:
            log.info("recommendation push: no refit is live yet; nothing to push")
            return 0
        campaign_id = await jobs.push_campaign(audience)
        if campaign_id is None:
            campaign = await uow.deliveries.create_campaign(
                kind=CampaignKind.RECOMMENDATION,
                creator_id=None,
                audience=audience,
                channel=None,
                replies=[],
                paid=False,
                now=now,
                status=CampaignStatus.RUNNING,
            )
            campaign_id = campaign.id
            await uow.deliveries.set_campaign(campaign_id, started_at=now)
        await uow.commit()
    after, added = 0, 0
    while True:
        async with uow_factory() as uow:
            session = session_of(uow)
            ids = await SqlRecommendJobs(session).push_candidates(run.id, after, batch)
            q = SqlJobQueries(session)
            users = await q.users(ids) if ids else {}
            refs = await q.reachable_ref(ids, channels) if ids else {}
            rows = [
                NewDelivery(
                    key=delivery_key(uid, period),
                    ref=refs[uid],
                    user_id=uid,
                    next_at=now if at_once else push_time(now, users[uid].timezone, hour),
                    campaign_id=campaign_id,
                    content=f"{PREFIX}:{campaign_id}",
                )
                for uid in ids
                if uid in refs and uid in users
            ]
            added += await uow.deliveries.add(rows)
            await uow.commit()
        if len(ids) < batch:
            break
        after = ids[-1]
    async with uow_factory() as uow:
        counts = await uow.deliveries.progress(campaign_id)
        current = await uow.deliveries.get_campaign(campaign_id)
        pending = counts.get(DeliveryStatus.PENDING, 0)
        if current is not None and current.status is not CampaignStatus.CANCELLED:
            status = CampaignStatus.RUNNING if pending else CampaignStatus.DONE
            await uow.deliveries.set_campaign(
                campaign_id, status=status, total=sum(counts.values()), finished_at=None if pending else now
            )
        await uow.commit()
    log.info("recommendation push %s: %d new rows (campaign %d)", period, added, campaign_id)
    return added


def scheduled_push(
    uow_factory: UnitOfWorkFactory, settings: Settings, channels: Collection[str]
) -> Callable[[datetime], Awaitable[int]]:
    """The scheduler's push hook (:data:`jobs.scheduler.RecommendationPush`), on the engine's ``channels``."""
    on = frozenset(channels)

    async def push(now: datetime) -> int:
        return await plan_push(
            uow_factory,
            now,
            channels=on,
            hour=settings.recommend_push_hour,
            period_days=settings.recommend_push_period_days,
            tz=settings.default_timezone,
        )

    return push


async def push_now(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    settings: Settings,
    *,
    channels: Collection[str] | None = None,
    at_once: bool = False,
    live: LiveModel | None = None,
) -> int:
    """``bot.py recommend --push-now``: this period's push, planned now (refitting first if nothing is live).

    Each user still gets it at their local push hour unless ``at_once``; a user who already has this
    period's push gets no second one.
    """
    await refit_if_stale(
        uow_factory,
        clock,
        live,
        max_age=timedelta.max,
        top_n=settings.recommend_top_n,
        signal_days=settings.recommend_signal_days,
    )
    return await plan_push(
        uow_factory,
        clock.now(),
        channels=channels,
        hour=settings.recommend_push_hour,
        period_days=settings.recommend_push_period_days,
        tz=settings.default_timezone,
        at_once=at_once,
    )


def push_resolver(
    uow_factory: UnitOfWorkFactory, clock: Clock, live: LiveModel | None = None, *, attempts: int = 3
) -> Resolver:
    """The delivery engine's resolver for ``rec:<campaign>`` rows: the user's top three as they are now.

    None (the engine records the row as skipped) when the user muted recommendations since the row was
    written, or there is nothing left to recommend to them.
    """

    async def resolve(d: Delivery) -> Sequence[Reply] | None:
        for attempt in range(attempts):
            try:
                return await _resolve(uow_factory, clock, live, d)
            except Conflict:  # SQLite: another writer won the race; read again
                await asyncio.sleep(0.05 * (attempt + 1))
            except Exception:
                log.exception("recommendation delivery %s: rendering failed", d.id)
                return None
        log.warning("recommendation delivery %s: the database stayed busy; skipped", d.id)
        return None

    return resolve


async def _resolve(
    uow_factory: UnitOfWorkFactory, clock: Clock, live: LiveModel | None, d: Delivery
) -> Sequence[Reply] | None:
    try:
        campaign_id = int(d.content.split(":", 1)[1])
    except (IndexError, ValueError):
        return None
    if d.user_id is None:
        return None
    now = clock.now()
    async with uow_factory() as uow:
        user = await uow.users.get(d.user_id)
        if user is None or not await push_allowed(uow, user.id):
            return None
        picks = await recommend_for(uow, user.id, now, live=live, n=PUSH_SIZE)
        if not picks:
            return None
        await uow.recommendations.add_push(campaign_id, user.id, [p.course.id for p in picks], now)
        await uow.commit()
    return push_messages(translator(user.lang), campaign_id, picks)
