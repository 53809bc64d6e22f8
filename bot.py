#!/usr/bin/env python3
"""KnowledgeSea (知识之海): the composition root and command-line interface.

This is the only place where things are wired together: settings, the
database, shared state, the dispatcher, channels, the HTTP server and the
scheduler. Tests build the same :class:`App` with fakes (a frozen clock, an
in-memory key-value store).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bots.console import SANDBOX_PROVIDER, SandboxGateway
from bots.notifier import ChannelNotifier
from bots.web import ReadinessProbe, build_web_app
from core.accounts import grant_role
from core.broadcasts import tracked_replies
from core.clock import Clock, SystemClock
from core.config import Settings
from core.course_import import CatalogImportError, load_catalog, stage_media
from core.ports import KeyValueStore
from core.publishing import ImportSummary, publish_catalog
from core.users import Ref, Role, User
from handlers import AppConfig, Dispatcher, build_router
from handlers.context import Services
from storage.db import Database
from storage.kv import make_kv_store
from storage.media_files_repo import SqlFileIds
from storage.uow import SqlUnitOfWorkFactory

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bots.telegram.bulk import TelegramBulkSender
    from bots.telegram.channel import TelegramChannel, TelegramConfig
    from bots.telegram.checkout_desk import DeskParts
    from bots.wechat.channel import WeChatChannel
    from core.delivery import Campaign
    from core.ports import BulkSender
    from jobs.delivery import DeliveryEngine

log = logging.getLogger("knowledgesea")
ROOT = Path(__file__).resolve().parent
DEMO_CATALOG = ROOT / "examples" / "catalog"
ROLES = ("all", "web", "worker", "scheduler")


class CliError(Exception):
    """A problem the operator can fix; printed without a traceback, exit code 2."""


@dataclass
class App:
    settings: Settings
    db: Database
    kv: KeyValueStore
    uow: SqlUnitOfWorkFactory
    dispatcher: Dispatcher
    clock: Clock
    services: Services
    notifier: ChannelNotifier
    telegram: TelegramChannel | None = None
    wechat: WeChatChannel | None = None

    async def close(self) -> None:
        if self.telegram is not None:
            await self.telegram.stop()
        if self.wechat is not None:
            await self.wechat.stop()
        await self.kv.close()
        await self.db.dispose()


def build_app(settings: Settings, *, clock: Clock | None = None, kv: KeyValueStore | None = None) -> App:
    clock = clock or SystemClock()
    db = Database(settings.database_url)
    kv = kv or make_kv_store(settings.redis_url)
    uow = SqlUnitOfWorkFactory(db.sessions)
    config = AppConfig(
        bot_name=settings.bot_name,
        support_contact=settings.support_contact,
        default_timezone=settings.default_timezone,
        order_ttl=timedelta(minutes=settings.order_ttl_minutes),
    )
    services = Services(gateways={SANDBOX_PROVIDER: SandboxGateway()})
    notifier = ChannelNotifier(uow)
    dispatcher = Dispatcher(
        build_router(), uow_factory=uow, kv=kv, clock=clock, config=config, services=services, notifier=notifier
    )
    app = App(settings, db, kv, uow, dispatcher, clock, services, notifier)
    tg = _telegram_config(settings)
    if tg is not None:
        from bots.telegram.channel import TelegramChannel
        from bots.telegram.updates import PROVIDER

        try:
            channel = TelegramChannel(
                tg,
                dispatcher=dispatcher,
                kv=kv,
                files=SqlFileIds(db.sessions),
                uow_factory=uow,
                clock=clock,
                desk=partial(_checkout_desk, settings, clock, config),
            )
        except ValueError as exc:
            raise CliError(str(exc)) from None
        services.gateways[PROVIDER] = channel.payments
        services.community = channel.community
        notifier.register("telegram", channel.push)
        app.telegram = channel
    if settings.wechat_app_id is not None:
        app.wechat = _wechat_channel(settings, app)
    return app


def _wechat_channel(settings: Settings, app: App) -> WeChatChannel:
    from bots.wechat.channel import WeChatChannel
    from bots.wechat.config import PROVIDER, WeChatConfig

    try:
        config = WeChatConfig.from_settings(settings)
        channel = WeChatChannel(
            config,
            dispatcher=app.dispatcher,
            kv=app.kv,
            uow_factory=app.uow,
            clock=app.clock,
            files=SqlFileIds(app.db.sessions),
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if channel.payments is not None:
        app.services.gateways[PROVIDER] = channel.payments
    app.notifier.register("wechat", channel.push)
    return channel


async def _checkout_desk(settings: Settings, clock: Clock, config: AppConfig) -> DeskParts:
    """The pre-checkout desk's own dispatcher and database engine, built on the desk's event loop."""
    from bots.telegram.checkout_desk import DeskParts

    db = Database(settings.database_url)
    uow = SqlUnitOfWorkFactory(db.sessions)
    dispatcher = Dispatcher(build_router(), uow_factory=uow, kv=make_kv_store(None), clock=clock, config=config)
    return DeskParts(dispatcher, db.dispose)


def _telegram_config(settings: Settings) -> TelegramConfig | None:
    if settings.telegram_bot_token is None:
        return None
    from bots.telegram.channel import TelegramConfig

    return TelegramConfig.from_settings(settings)


async def prepare(app: App, *, migrate: bool) -> None:
    """Bring the database to the code's schema (or check it is) and promote ADMINS."""
    if migrate:
        await app.db.upgrade()
    else:
        current, head = await app.db.revision_status()
        if current != head:
            raise CliError(
                f"the database is at migration {current or 'none'} and the code needs {head}: "
                "run `python bot.py db upgrade`"
            )
    async with app.uow() as uow:
        for ref in app.settings.admin_refs():
            await grant_role(uow, ref, Role.ADMIN, now=app.clock.now(), timezone=app.settings.default_timezone)
        await uow.commit()


async def import_path(app: App, path: Path) -> ImportSummary:
    """Validate the whole folder, stage media, then write everything in one transaction."""
    spec = load_catalog(path)  # raises CatalogImportError listing every problem
    token = await app.kv.acquire_lock("catalog-import", 300)
    if token is None:
        raise CliError("another import is running; try again when it has finished")
    try:
        media = stage_media(spec, app.settings.media_dir)
        async with app.uow() as uow:
            summary = await publish_catalog(uow, spec, media, app.clock.now())
            await uow.commit()
        return summary
    finally:
        await app.kv.release_lock("catalog-import", token)


async def grant(app: App, ref_text: str, role_text: str) -> User:
    try:
        ref, role = Ref.parse(ref_text), Role.parse(role_text)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    async with app.uow() as uow:
        user = await grant_role(uow, ref, role, now=app.clock.now(), timezone=app.settings.default_timezone)
        await uow.commit()
    return user


async def chat(app: App, *, user: str, lang: str, refit: bool = False) -> None:
    """The console chat (``demo``, ``chat``), with a delivery worker behind it: broadcasts and drip lessons
    to console users are printed in the same terminal."""
    from bots.console import ConsoleBulkSender, ConsoleChannel
    from jobs.broadcast_start import BroadcastStarter

    channel = ConsoleChannel(app.dispatcher, app.kv, user=user, lang=lang, media_dir=app.settings.media_dir)
    interactive = sys.stdin.isatty()
    if interactive:
        from core.i18n import translator

        print(translator(lang)("console.banner", bot=app.settings.bot_name))
    await app.services.search.warm_up(app.uow)  # jieba's dictionary and the index: the first search is quick
    engine, lanes = delivery_engine(app, extra={"console": ConsoleBulkSender(channel)})
    for lane in lanes:
        await lane.start()
    stop = asyncio.Event()
    workers = [
        asyncio.ensure_future(engine.run(stop)),
        asyncio.ensure_future(BroadcastStarter(app.uow, app.clock, app.kv).run(stop)),
    ]
    if refit:  # the demo: fit the recommender on the demo catalog now (a second), so /recommend has answers
        from jobs.recommend import refit_now

        await refit_now(app.uow, app.clock, app.kv, app.settings, live=app.services.recommender)
    try:
        await channel.run(sys.stdin, interactive=interactive)
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
        for lane in lanes:
            await lane.stop()


async def broadcast_command(app: App, args: argparse.Namespace) -> None:
    """``broadcast --audience … --text … [--photo PATH]``: the same draft, permission checks and engine as
    /broadcast (with a photo, the text is its caption)."""
    from core import broadcasts
    from core.errors import UserFacingError
    from core.i18n import translator
    from core.photos import MAX_PHOTO_BYTES, PhotoRejected, read_photo_file, store_photo

    try:
        ref = Ref.parse(args.actor) if args.actor else next(iter(app.settings.admin_refs()), None)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if ref is None:
        raise CliError("say who sends it: --as REF (an admin or creator), or set ADMINS")
    t = translator("en")
    now = app.clock.now()
    photo = None
    if args.photo is not None:
        try:
            photo = store_photo(read_photo_file(args.photo), app.settings.media_dir)
        except PhotoRejected as exc:
            raise CliError(f"{args.photo}: {t('photo.' + exc.problem.value, mb=MAX_PHOTO_BYTES >> 20)}") from None
    try:
        async with app.uow() as uow:
            actor = await uow.users.get_by_ref(ref)
            if actor is None:
                raise CliError(f"{ref} has never used the bot; grant it a role first (python bot.py grant)")
            draft = await broadcasts.draft(
                uow, actor, args.text, args.audience, args.channel, args.paid, now, photo=photo
            )
            await uow.commit()
        per = ", ".join(f"{n} on {c}" for c, n in sorted(draft.per_channel.items())) or "nobody"
        print(f"broadcast {draft.campaign.id} reaches {draft.audience} people ({per})")
        if draft.stars is not None:
            print(f"paid broadcast: about {draft.stars} Stars")
        if not args.yes:
            answer = input("send it? [y/N] ") if sys.stdin.isatty() else ""
            if answer.strip().lower() not in ("y", "yes"):
                async with app.uow() as uow:
                    await broadcasts.discard(uow, draft.campaign.id, actor, now)
                    await uow.commit()
                raise CliError("not sent (pass --yes to send without asking)")
        total = await broadcasts.start(app.uow, draft.campaign.id, actor, app.clock.now())
    except UserFacingError as exc:
        raise CliError(t(exc.key, **exc.params)) from None
    print(f"broadcast {draft.campaign.id}: {total} messages queued; workers send them (python bot.py run)")


async def wechat_command(app: App, args: argparse.Namespace) -> None:
    """``wechat menu sync|show`` and ``wechat qrcode --course SLUG | --referral CODE``."""
    import json

    from bots.wechat.api import WeChatAPIError
    from bots.wechat.menu import build_menu

    if args.wechat_command == "menu" and args.action == "show":
        print(json.dumps(build_menu(args.lang), ensure_ascii=False, indent=2))
        return
    wx = app.wechat
    if wx is None:
        raise CliError("WeChat is not configured: set WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN")
    try:
        if args.wechat_command == "menu":
            await wx.api.create_menu(build_menu(args.lang))
            print("the WeChat menu is synced (it shows within minutes; re-follow to see it at once)")
            return
        if args.course is not None:
            slug = args.course.strip().lower()
            async with app.uow() as uow:
                course = await uow.catalog.get_course(slug)
            if course is None:
                raise CliError(f"no course {slug!r}: see the catalog (python bot.py chat, then /catalog)")
            scene = f"c_{slug}"
        else:
            code = args.referral.strip()
            async with app.uow() as uow:
                owner = await uow.users.get_by_ref_code(code)
            if owner is None:
                raise CliError(f"no user has the referral code {code!r}")
            scene = f"r_{code}"
        if len(scene) > 64:
            raise CliError("the QR scene would exceed WeChat's 64 characters: use a shorter slug")
        if args.days is not None and not 1 <= args.days <= 30:
            raise CliError("--days must be 1 to 30 (WeChat's limit for temporary codes)")
        expire = args.days * 86400 if args.days else None
        ticket = await wx.api.create_qrcode(scene, expire_seconds=expire)
        print(wx.api.qrcode_url(ticket))
    except WeChatAPIError as exc:
        raise CliError(f"WeChat refused: {exc}") from None
    finally:
        await wx.api.close()


async def recommend_command(app: App, args: argparse.Namespace) -> None:
    """``recommend --refit`` / ``--push-now [--at-once]`` (``--evaluate DIR`` never gets here)."""
    from jobs.recommend import refit_now
    from jobs.recommend_push import push_now

    if args.refit:
        report = await refit_now(app.uow, app.clock, app.kv, app.settings)
        if report is None:
            raise CliError("a refit is running already; try again when it has finished")
        print(
            f"refit {report.run_id}: {report.users} learners, {report.rows} recommendations from "
            f"{report.interactions} signals on {report.courses} courses in {report.fit_seconds:.1f} s "
            f"({report.tokenized} courses tokenized)"
        )
    elif args.push_now:
        # The messengers `run` sends on, and the console (the demo's `chat` prints console users' pushes).
        channels = [name for name, on in (("telegram", app.telegram), ("wechat", app.wechat)) if on is not None]
        queued = await push_now(app.uow, app.clock, app.settings, channels=[*channels, "console"], at_once=args.at_once)
        when = "now" if args.at_once else f"at {app.settings.recommend_push_hour}:00 on each learner's own clock"
        print(f"recommendation push: {queued} messages queued; the workers send them {when} (python bot.py run)")


def delivery_engine(
    app: App, *, extra: Mapping[str, BulkSender] | None = None
) -> tuple[DeliveryEngine, list[TelegramBulkSender]]:
    """The delivery engine with every channel that can send in bulk (Telegram's bulk lane must be started).

    ``extra``: more senders (the console chat's).
    """
    from jobs.delivery import DeliveryEngine
    from jobs.drip import lesson_resolver
    from jobs.recommend_push import push_resolver

    s = app.settings
    senders: dict[str, BulkSender] = {}
    lanes: list[TelegramBulkSender] = []
    if app.telegram is not None:
        from bots.telegram.bulk import TelegramBulkSender

        bulk = TelegramBulkSender.from_config(
            app.telegram.config,
            kv=app.kv,
            files=SqlFileIds(app.db.sessions),
            clock=app.clock,
            codec=app.telegram.codec,
            per_second=s.telegram_bulk_rate,
            paid_per_second=s.telegram_paid_rate,
        )
        senders["telegram"] = bulk
        lanes.append(bulk)
    if app.wechat is not None:
        senders["wechat"] = app.wechat
    senders.update(extra or {})
    engine = DeliveryEngine(
        app.uow,
        app.clock,
        senders,
        tracked=tracked_replies,
        resolvers={
            "lesson": lesson_resolver(app.uow, app.clock),
            "rec": push_resolver(app.uow, app.clock, app.services.recommender),
        },
        on_campaign_done=partial(_report_campaign, app),
        concurrency=s.delivery_concurrency,
        batch=s.delivery_batch,
        lease=timedelta(seconds=s.delivery_lease_seconds),
    )
    return engine, lanes


async def _report_campaign(app: App, campaign: Campaign) -> None:
    """A broadcast ended: its creator gets the final report (delivered, failed, blocked, skipped, clicks)."""
    from core.broadcasts import progress_of
    from core.delivery import CampaignKind
    from core.i18n import translator
    from handlers.broadcast import report_replies

    if campaign.kind is not CampaignKind.BROADCAST or campaign.creator_id is None:
        return
    async with app.uow() as uow:
        creator = await uow.users.get(campaign.creator_id)
        progress = await progress_of(uow, campaign, app.clock.now())
    if creator is not None:
        await app.notifier.notify(creator.id, report_replies(translator(creator.lang), campaign, progress))


def readiness_probe(app: App) -> ReadinessProbe:
    """/readyz: the database answers and is at the code's migration head; Redis (if configured) answers."""

    async def check_db() -> tuple[bool, str]:
        current, head = await app.db.revision_status()
        return current == head, f"migration {current} (code: {head})"

    async def check_redis() -> tuple[bool, str]:
        return await app.kv.ping(), "configured" if app.settings.redis_url else "in-process"

    return ReadinessProbe({"database": check_db, "redis": check_redis})


async def serve(app: App, role: str) -> None:
    """Run the HTTP server, the scheduler and the workers of ``role`` until SIGTERM/SIGINT."""
    from aiohttp import web

    from jobs.broadcast_start import BroadcastStarter
    from jobs.scheduler import build_scheduler

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    runner: web.AppRunner | None = None
    scheduler = None
    tg = app.telegram
    webhook = tg is not None and tg.config.webhook_url is not None
    routes = tg.routes() if tg is not None and webhook and role in ("all", "web") else []
    wx = app.wechat
    if wx is not None and role in ("all", "web"):
        routes += wx.routes()
        await wx.start()
    if role in ("all", "web"):
        runner = web.AppRunner(build_web_app(readiness_probe(app), routes))
        await runner.setup()
        await web.TCPSite(runner, app.settings.http_host, app.settings.http_port).start()
        log.info("HTTP on http://%s:%d", app.settings.http_host, app.settings.http_port)
    if tg is not None and (role == "all" or role == ("web" if webhook else "worker")):
        # A webhook arrives at the web role (listening by now); long polling runs in the worker role.
        await tg.start()
    if role in ("all", "scheduler"):
        import hashlib

        from jobs.recommend import scheduled_refit
        from jobs.recommend_push import scheduled_push
        from jobs.scheduler import LeadingScheduler

        ledger = None
        if tg is not None:
            from bots.telegram.ledger import StarLedger

            ledger = StarLedger(tg.bot)
        deliver_on = [name for name, on in (("telegram", tg), ("wechat", wx)) if on is not None]
        # The refitted model stays in memory only in a process that also answers /recommend.
        fitted = app.services.recommender if role == "all" else None
        jobs = partial(
            build_scheduler,
            app.uow,
            app.clock,
            app.kv,
            notifier=app.notifier,
            community=app.services.community,
            ledger=ledger,
            settings=app.settings,
            wechat_pay=wx.reconcile if wx is not None and wx.desk is not None else None,
            deliver_on=deliver_on,
            rollup=True,
            recommend=scheduled_push(app.uow, app.settings, deliver_on) if deliver_on else None,
            refit=scheduled_refit(app.uow, app.clock, fitted, app.settings),
        )
        # Only the leader runs the jobs: one per database, whichever scheduler process holds the lock
        # (with the in-process store, i.e. one process, that is this one at once).
        deployment = hashlib.sha256(app.settings.database_url.encode()).hexdigest()[:16]
        scheduler = LeadingScheduler(jobs, app.uow, app.kv, name=f"scheduler:{deployment}")
        await scheduler.start()
    follow_task: asyncio.Task[None] | None = None
    if role in ("all", "web"):
        from jobs.recommend import follow

        # /recommend answers learners the last refit did not know from this process's model: load it when a
        # refit goes live (with --role all the scheduler's refit installs it directly), follow the catalog.
        follow_task = asyncio.ensure_future(
            follow(app.uow, app.clock, app.services.recommender, stop, signal_days=app.settings.recommend_signal_days)
        )
    engine_task: asyncio.Task[None] | None = None
    starter_task: asyncio.Task[None] | None = None
    bulk_senders: list[TelegramBulkSender] = []
    if role in ("all", "worker"):
        engine, bulk_senders = delivery_engine(app)
        for bulk in bulk_senders:
            await bulk.start()
        engine_task = asyncio.ensure_future(engine.run(stop))
        # Confirmed broadcasts (STARTING) get their recipient rows written here, not in the chat handler.
        starter_task = asyncio.ensure_future(BroadcastStarter(app.uow, app.clock, app.kv).run(stop))
        if tg is None and wx is None:
            log.info("worker ready (no channel with credentials is configured)")
    # Search: load jieba and index the catalog in a worker thread now, not on the first learner's query.
    warm_task: asyncio.Task[None] | None = None
    if role in ("all", "web", "worker"):
        warm_task = asyncio.ensure_future(app.services.search.warm_up(app.uow))
    # Everything built so far lives as long as the process: keep it out of the collector's full passes,
    # which otherwise stall the event loop for 100+ ms (bench/wechat_webhook.py).
    gc.collect()
    gc.freeze()
    await stop.wait()
    log.info("shutting down")
    if warm_task is not None and not warm_task.done():
        warm_task.cancel()
    if engine_task is not None:
        await engine_task  # finishes its round: outcomes of sends in flight are recorded
    if starter_task is not None:
        await starter_task  # a campaign half-written stays STARTING: the next worker completes it
    if follow_task is not None:
        await follow_task
    for bulk in bulk_senders:
        await bulk.stop()
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    if runner is not None:
        await runner.cleanup()


#: What ``recommend --evaluate`` prints, one ``name value`` per line, in this order.
EVALUATION_METRICS = ("precision@10", "recall@10", "coverage", "popularity_precision@10", "fit_seconds")


def recommend_evaluate(folder: Path) -> int:
    """``recommend --evaluate DIR``: offline evaluation of the recommender on an operator's export.

    Needs no settings, database or channel: it reads DIR/courses.jsonl and DIR/interactions.csv
    (see core/recommend/dataset.py) and prints one metric per line. A bad file is reported with
    its line on stderr, exit code 2, and nothing on stdout.
    """
    from core.recommend.dataset import DatasetError
    from core.recommend.evaluation import evaluate

    try:
        metrics = evaluate(folder, svd=False)
    except DatasetError as exc:
        print(f"bot.py recommend: {exc}", file=sys.stderr)
        return 2
    for name in EVALUATION_METRICS:
        print(f"{name} {metrics[name]:.4f}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bot.py", description="KnowledgeSea (知识之海): courses and memberships sold and taught inside the chat."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    lang_default = "zh" if os.environ.get("LANG", "").lower().startswith("zh") else "en"
    demo = sub.add_parser(
        "demo", help="zero configuration: create ./var, migrate, seed the demo catalog and open the console chat"
    )
    demo.add_argument("--user", default="demo", help="console user id (default: demo)")
    demo.add_argument("--lang", choices=("zh", "en"), default=lang_default)
    c = sub.add_parser("chat", help="chat with the bot in this terminal (stdin/stdout; numbers press buttons)")
    c.add_argument("--user", default="me", help="console user id (default: me)")
    c.add_argument("--lang", choices=("zh", "en"), default=lang_default)
    r = sub.add_parser("run", help="serve configured channels, the HTTP server and the scheduler")
    r.add_argument("--role", choices=ROLES, default="all", help="which part to run (default: all, in one process)")
    i = sub.add_parser("import", help="import a catalog folder or a single course folder (idempotent)")
    i.add_argument("path", type=Path)
    d = sub.add_parser("db", help="database commands")
    d.add_argument("action", choices=("upgrade",), help="upgrade: apply the Alembic migrations")
    w = sub.add_parser("wechat", help="WeChat Official Account commands (needs WECHAT_APP_ID and friends)")
    wsub = w.add_subparsers(dest="wechat_command", required=True, metavar="WECHAT_COMMAND")
    menu = wsub.add_parser("menu", help="the custom menu")
    menu.add_argument("action", choices=("sync", "show"), help="sync: upload the menu; show: print it as JSON")
    menu.add_argument("--lang", choices=("zh", "en"), default="zh", help="the menu's language (default: zh)")
    qr = wsub.add_parser("qrcode", help="create a parametric QR code that opens a course or records a referral")
    target = qr.add_mutually_exclusive_group(required=True)
    target.add_argument("--course", metavar="SLUG")
    target.add_argument("--referral", metavar="CODE")
    qr.add_argument(
        "--days", type=int, default=None, help="temporary code valid this many days (1-30); default: permanent"
    )
    b = sub.add_parser("broadcast", help="send a message to an audience through the delivery engine")
    b.add_argument(
        "--audience", required=True, help="all | course:<slug> | plan:<slug> | inactive:<days> | lang:<zh|en>"
    )
    b.add_argument("--text", default="", help="the message (Markdown); with --photo, its caption")
    b.add_argument("--photo", type=Path, default=None, help="send this image (JPEG, PNG or WebP, up to 10 MB)")
    b.add_argument("--channel", choices=("telegram", "wechat", "console"), default=None, help="only this messenger")
    b.add_argument("--paid", action="store_true", help="Telegram allow_paid_broadcast: up to 1000 msg/s, costs Stars")
    b.add_argument("--as", dest="actor", default=None, help="send as this REF (default: the first of ADMINS)")
    b.add_argument("--yes", action="store_true", help="don't ask for confirmation")
    rec = sub.add_parser("recommend", help="personalized recommendations: refit, push now, offline evaluation")
    # One action per run; --refit and --push-now join this group (they need the app, --evaluate does not).
    rec_action = rec.add_mutually_exclusive_group(required=True)
    rec_action.add_argument(
        "--evaluate",
        metavar="DIR",
        type=Path,
        help="fit on DIR/courses.jsonl + DIR/interactions.csv minus each user's latest interactions, "
        "print precision@10, recall@10, coverage, popularity_precision@10, fit_seconds",
    )
    rec_action.add_argument("--refit", action="store_true", help="refit the models now; store every learner's top-N")
    rec_action.add_argument(
        "--push-now",
        action="store_true",
        help="plan this period's push now (each learner gets it at RECOMMEND_PUSH_HOUR on their own clock)",
    )
    rec.add_argument("--at-once", action="store_true", help="with --push-now: send to everyone now")
    g = sub.add_parser("grant", help="give a user a role")
    g.add_argument("ref", help="telegram:<user_id>, wechat:<openid> or console:<id>")
    g.add_argument("role", help="learner, creator or admin")
    return p


async def main_async(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run" and args.role != "all" and not settings.redis_url:
        raise CliError(
            f"--role {args.role} runs as one of several processes, and they share rate limits, locks and "
            "conversation state through Redis: set REDIS_URL (or use --role all for a single process)"
        )
    app = build_app(settings)
    try:
        if args.command == "db":
            await app.db.upgrade()
            current, _ = await app.db.revision_status()
            print(f"database is at migration {current}")
            return 0
        auto_migrate = settings.is_sqlite or args.command == "demo"
        await prepare(
            app,
            migrate=auto_migrate
            and args.command in ("demo", "run", "chat", "import", "grant", "wechat", "broadcast", "recommend"),
        )
        if args.command == "demo":
            await import_path(app, DEMO_CATALOG)
            await chat(app, user=args.user, lang=args.lang, refit=True)
        elif args.command == "chat":
            await chat(app, user=args.user, lang=args.lang)
        elif args.command == "import":
            s = await import_path(app, args.path)
            print(
                f"imported {args.path}: courses {s.courses_created} new, {s.courses_updated} updated; "
                f"plans {s.plans_created} new, {s.plans_updated} updated; {s.lessons} lessons"
            )
        elif args.command == "broadcast":
            await broadcast_command(app, args)
        elif args.command == "wechat":
            await wechat_command(app, args)
        elif args.command == "recommend":
            await recommend_command(app, args)
        elif args.command == "grant":
            user = await grant(app, args.ref, args.role)
            print(f"{args.ref} is now {user.role.label}")
        elif args.command == "run":
            log.info("configuration: %s", settings.summary())
            await serve(app, args.role)
        return 0
    finally:
        await app.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "recommend" and args.evaluate is not None:
        return recommend_evaluate(args.evaluate)  # offline: no settings, database or channel
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"bot.py: configuration error:\n{exc}", file=sys.stderr)
        return 2
    quiet = args.command in ("demo", "chat")
    logging.basicConfig(
        level=logging.WARNING if quiet else settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(main_async(args, settings))
    except CatalogImportError as exc:
        print(f"bot.py import: nothing was imported, because:\n{exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"bot.py: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
