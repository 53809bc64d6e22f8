"""The scheduler registers each job for what the deployment has, runs each under its own lock,
and takes grace, dry run and the reconciliation period from the settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from service_fakes import CHAT, PROVIDER, FakeCommunityGateway, RecordingNotifier, write_club_catalog

import bot
from bots.console import CAPABILITIES
from core.clock import FrozenClock
from core.community import MemberStatus
from core.config import Settings
from core.errors import GatewayError
from core.events import MemberJoined, Message, PaymentSucceeded, Sender
from core.reconciliation import LedgerEntry
from core.replies import InvoiceReply
from core.subscriptions import SubscriptionStatus
from core.users import Ref
from jobs.scheduler import build_scheduler

ANN = Sender(Ref("console", "ann"), "en", "Ann")


class CountingLedger:
    def __init__(self) -> None:
        self.asked: list[datetime] = []
        self.fail: bool = False

    async def entries(self, since: datetime) -> list[LedgerEntry]:
        self.asked.append(since)
        if self.fail:
            raise GatewayError("Bad Gateway")
        return []


def job_ids(scheduler: object) -> list[str]:
    return sorted(job.id for job in scheduler.get_jobs())  # type: ignore[attr-defined]


async def run_job(scheduler: object, job_id: str) -> None:
    await scheduler.get_job(job_id).func()  # type: ignore[attr-defined]


def test_without_a_community_or_ledger_only_the_core_jobs_run(demo: bot.App) -> None:
    scheduler = build_scheduler(demo.uow, demo.clock, demo.kv)
    assert job_ids(scheduler) == ["expire-orders", "subscriptions-lapse"]
    assert scheduler.get_job("subscriptions-lapse").trigger.interval == timedelta(minutes=10)


def test_every_job_is_registered_with_its_interval(demo: bot.App, settings: Settings) -> None:
    scheduler = build_scheduler(
        demo.uow,
        demo.clock,
        demo.kv,
        notifier=RecordingNotifier(),
        community=FakeCommunityGateway(),
        ledger=CountingLedger(),
        settings=settings,
    )
    assert job_ids(scheduler) == ["community-sweep", "expire-orders", "reconcile-stars", "subscriptions-lapse"]
    assert scheduler.get_job("community-sweep").trigger.interval == timedelta(minutes=30)
    assert scheduler.get_job("expire-orders").trigger.interval == timedelta(seconds=60)


@pytest.fixture
async def expired_member(app: bot.App, tmp_path: Path, clock: FrozenClock) -> bot.App:
    """Ann paid the club 30 days + 2 days ago and is in its group."""
    await bot.import_path(app, write_club_catalog(tmp_path / "catalog"))
    caps = replace(CAPABILITIES, payment_provider=PROVIDER)
    replies = await app.dispatcher.dispatch(Message(ANN, "/buy club"), caps)
    inv = next(r for r in replies if isinstance(r, InvoiceReply))
    await app.dispatcher.dispatch(PaymentSucceeded(ANN, PROVIDER, "ch1", inv.order_code, inv.price), caps)
    await app.dispatcher.dispatch(MemberJoined(ANN, CHAT), caps)
    clock.advance(timedelta(days=32))
    return app


async def ann_status(app: bot.App) -> MemberStatus:
    async with app.uow() as uow:
        user = await uow.users.get_by_ref(ANN.ref)
        assert user is not None
        row = await uow.community.get(user.id, CHAT)
    assert row is not None
    return row.status


async def test_the_sweep_job_uses_the_settings_and_its_lock(
    expired_member: bot.App, settings: Settings, clock: FrozenClock
) -> None:
    app, gateway, notifier = expired_member, FakeCommunityGateway(), RecordingNotifier()
    dry = settings.model_copy(update={"community_dry_run": True, "community_grace_hours": 24})
    scheduler = build_scheduler(app.uow, clock, app.kv, notifier=notifier, community=gateway, settings=dry)
    await run_job(scheduler, "community-sweep")
    assert gateway.removed == [] and await ann_status(app) is MemberStatus.MEMBER  # dry run

    live = settings.model_copy(update={"community_dry_run": False, "community_grace_hours": 24 * 3})
    scheduler = build_scheduler(app.uow, clock, app.kv, notifier=notifier, community=gateway, settings=live)
    await run_job(scheduler, "community-sweep")
    assert gateway.removed == []  # ended 2 days ago: still inside a 3-day grace

    clock.advance(timedelta(days=2))
    token = await app.kv.acquire_lock("job:community-sweep", 60)
    assert token is not None
    await run_job(scheduler, "community-sweep")  # another scheduler holds the lock: nothing happens
    assert gateway.removed == []
    await app.kv.release_lock("job:community-sweep", token)
    await run_job(scheduler, "community-sweep")
    assert gateway.removed == [(CHAT, ANN.ref)] and await ann_status(app) is MemberStatus.REMOVED


async def test_reconciliation_runs_once_per_period_and_again_after_a_failure(
    demo: bot.App, settings: Settings, clock: FrozenClock
) -> None:
    ledger = CountingLedger()
    every_6h = settings.model_copy(update={"reconcile_hours": 6})
    scheduler = build_scheduler(demo.uow, clock, demo.kv, ledger=ledger, settings=every_6h)
    ledger.fail = True
    await run_job(scheduler, "reconcile-stars")
    assert len(ledger.asked) == 1  # failed (and logged) ...
    ledger.fail = False
    await run_job(scheduler, "reconcile-stars")
    assert len(ledger.asked) == 2  # ... so it was due again at the next tick
    await run_job(scheduler, "reconcile-stars")
    assert len(ledger.asked) == 2  # done: not again within the period
    assert ledger.asked[-1] == clock.now() - timedelta(hours=7)  # 6 h back, plus the ledger's slack


async def test_the_lapse_job_runs_from_the_scheduler(app: bot.App, tmp_path: Path, clock: FrozenClock) -> None:
    await bot.import_path(app, write_club_catalog(tmp_path / "catalog"))
    caps = replace(CAPABILITIES, payment_provider=PROVIDER, subscriptions=frozenset({30}))
    replies = await app.dispatcher.dispatch(Message(ANN, "/buy club"), caps)
    inv = next(r for r in replies if isinstance(r, InvoiceReply))
    period_end = clock.now() + timedelta(days=30)
    paid = PaymentSucceeded(ANN, PROVIDER, "ch1", inv.order_code, inv.price, True, True, period_end)
    await app.dispatcher.dispatch(paid, caps)
    scheduler = build_scheduler(app.uow, clock, app.kv)
    clock.set(period_end + timedelta(minutes=10))
    await run_job(scheduler, "subscriptions-lapse")
    async with app.uow() as uow:
        user = await uow.users.get_by_ref(ANN.ref)
        assert user is not None
        (sub,) = await uow.subscriptions.for_user(user.id)
    assert sub.status is SubscriptionStatus.ENDED
