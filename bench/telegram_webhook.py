#!/usr/bin/env python3
"""Updates per second through webhook -> PTB -> handlers -> database -> reply, against a bare PTB echo bot.

What is measured
----------------
One *update* is one POST of a Telegram update to a webhook, answered by the bot with Bot API calls to a
fake Bot API server. Both the fake server and the load generator (``bench/telegram_fake_min.py``) run in
one separate process, so the bot under test has its event loop to itself, as in production; with 2 cores,
the bot (and PostgreSQL) share one core's worth of time with the fake. The load generator keeps at most
``--concurrency`` POSTs in flight (Telegram's ``max_connections``: our bot asks for 16). Both webhooks
answer as soon as the update is on PTB's ``update_queue``, so the POSTs run ahead of the work and the
figure is how fast the bot *works off* N updates: from the first POST until the expected number of replies
has arrived at the fake (updates/s = N / that time). Updates are serialized before the clock starts.

Scenarios, per database, in the same run and against the same fake server:

``echo``
    The baseline: a bare ``telegram.ext.Application`` with the same ``AiohttpRequest`` transport,
    ``concurrent_updates(64)`` and ``updater(None)``, one ``MessageHandler(filters.TEXT, echo)`` that calls
    ``update.message.reply_text(update.message.text)``, fed by an aiohttp webhook handler equivalent to
    ours (secret check, ``Update.de_json``, ``update_queue.put``) on the same ``build_web_app``. N text
    messages ``/catalog`` from N distinct users; done when N ``sendMessage`` have arrived.
``/catalog``
    Our bot as ``bot.build_app`` builds it with Telegram settings (webhook mode, secret, the fake's URL),
    migrated, the demo catalog imported, ``POST /telegram/webhook`` served by ``build_web_app`` and
    ``app.telegram.start()`` run (getMe, commands and descriptions, setWebhook). The same N ``/catalog``
    messages from the same N users. Those users already exist: a warm-up round (reported as ``/catalog,
    new users``, one batch per database) created them, so the timed rounds measure returning users.
``pre-checkout``
    N ``pre_checkout_query`` updates (XTR, the order's price, payload = order code) for N pending orders of N
    new users, created before the clock starts through the real code (``Dispatcher.dispatch`` of
    ``/buy python-basics`` with the Telegram channel's capabilities). Done when N
    ``answerPreCheckoutQuery`` have arrived; latency = answer arrival - POST start. This is a burst: all N
    arrive within a fraction of a second, so the latency is mostly queueing.
``payment``
    N ``successful_payment`` messages (distinct charge ids) for the same orders. Each payment is answered
    with several messages (confirmation, then the first lesson); the number per payment is measured in a
    warm-up and the batch is done when N x that many ``sendMessage`` have arrived.
``trickle alone``
    Pre-checkout queries at a steady ``--trickle-rate`` (20/s) for ``--trickle-seconds``, nothing else:
    the answer latency of an idle bot.
``/catalog + trickle``
    The ``/catalog`` batch again at full concurrency while pre-checkout queries arrive at ``--trickle-rate``
    on their own connections, for as long as the batch runs. Target: their p99 answer latency < 100 ms
    (the channel lets pre-checkout queries bypass PTB's concurrency limit, see ``_Processor`` in
    ``bots/telegram/channel.py``). The trickle reuses a pool of pending orders (pre-checkout only reads).

Every scenario runs ``--repeats`` times, interleaved (echo, /catalog, pre-checkout, payment, trickle,
/catalog + trickle, then again), so drift on a noisy machine hits all of them alike. We report the MEDIAN
updates/s with min-max, latency percentiles pooled over all repeats (nearest rank), the bot's CPU time
per update (this process, all threads; not PostgreSQL's) and the fake's CPU share of the batch's wall time
(if it nears 100 % the fake, not the bot, is the limit). Ratios are of medians to the echo baseline of the
same database run. Log records at WARNING and above are counted (retries, failed updates) and the first
few are printed with their tracebacks.

Databases: SQLite in a temporary directory and PostgreSQL ``ks_bench`` on 127.0.0.1 (schema recreated at
start and emptied at the end, as ``bench/events.py`` does). The key-value store is in-process unless
``--redis`` is given (then 127.0.0.1:6379, namespace ``ks-bench:``, whose keys are deleted at the end).

Usage::

    python bench/telegram_webhook.py --db sqlite|postgres|both [-n 1000] [--concurrency 16] [--repeats 3]
        [--redis] [--profile PATH] [--json bench/results/telegram-webhook.json]

Targets (issue 3): ours /catalog >= 50 % of the echo bot's updates/s; pre-checkout p99 < 100 ms under load.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hmac
import json
import logging
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/telegram_webhook.py` puts bench/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import events as ev  # noqa: E402  (bench/events.py: databases, machine, digest, percentiles)
import telegram  # noqa: E402
import telegram_fake_min as fake_min  # noqa: E402  (bench/telegram_fake_min.py)
from aiohttp import web  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application, ContextTypes, MessageHandler, filters  # noqa: E402

import bot  # noqa: E402
from bots.telegram.channel import SECRET_HEADER, WEBHOOK_PATH  # noqa: E402
from bots.telegram.transport import AiohttpRequest  # noqa: E402
from bots.web import ReadinessProbe, build_web_app  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.events import Message, Sender  # noqa: E402
from core.replies import InvoiceReply  # noqa: E402
from core.users import Ref  # noqa: E402
from storage.kv import make_kv_store  # noqa: E402

TOKEN = "123456:BENCH-token-abcdefghijklmnopq"
SECRET = "bench-webhook-secret-0123456789"
COURSE = "python-basics"  # 400 Stars; its first lesson is text only
TEXT = "/catalog"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
REDIS_NAMESPACE = "ks-bench:"
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
CATALOG_USERS = 10_000_000  # Telegram user ids of the /catalog users (10 probe users just below)
PAY_USERS = 20_000_000  # ... of the payment users, fresh ones for every repeat
TRICKLE_USERS = 30_000_000  # ... of the trickle's pending orders
TRICKLE_ORDERS = 40
PAYMENT_WARMUP = 20
LOAD_TIMEOUT = 120.0

ECHO = "echo"
CATALOG_NEW = "/catalog, new users"
CATALOG = "/catalog"
PRE_CHECKOUT = "pre-checkout burst"
PAYMENT = "successful_payment"
TRICKLE = "pre-checkout trickle alone"
LOADED = "/catalog + trickle"
ORDER = [ECHO, CATALOG_NEW, CATALOG, PRE_CHECKOUT, PAYMENT, TRICKLE, LOADED]


# --------------------------------------------------------------------------- results


@dataclass
class Scenario:
    """The batches of one scenario on one database, and the latencies pooled over them."""

    name: str
    n: int = 0
    batches: list[dict[str, Any]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # pre-checkout answers of the main stream
    trickle_ms: list[float] = field(default_factory=list)  # pre-checkout answers of the side stream
    trickle_flood_ms: list[float] = field(default_factory=list)  # ... sent while the main stream's POSTs ran
    trickle_backlog_ms: list[float] = field(default_factory=list)  # ... sent after: the bot works off a backlog

    def add(self, result: dict[str, Any], bot_cpu: float) -> tuple[dict[str, Any], list[float], list[float]]:
        """Keep one batch; returns it with its own (main, trickle) latencies."""
        main, side = result.pop("latencies_ms"), result.pop("trickle_latencies_ms")
        offsets = result.pop("trickle_offsets_s")
        self.latencies_ms += main
        self.trickle_ms += side
        for latency, offset in zip(side, offsets, strict=True):
            (self.trickle_flood_ms if offset < result["post_seconds"] else self.trickle_backlog_ms).append(latency)
        result["bot_cpu_ms_per_update"] = bot_cpu / result["n"] * 1000 if result["n"] else float("nan")
        self.n = result["n"]
        self.batches.append(result)
        return result, main, side

    def summary(self) -> dict[str, Any]:
        rates = [b["rate"] for b in self.batches]
        out: dict[str, Any] = {
            "scenario": self.name,
            "updates_per_batch": self.n,
            "repeats": len(rates),
            "median_ups": statistics.median(rates) if rates else None,
            "min_ups": min(rates) if rates else None,
            "max_ups": max(rates) if rates else None,
            "bot_cpu_ms_per_update": statistics.median(b["bot_cpu_ms_per_update"] for b in self.batches),
            "fake_cpu_share": statistics.median(b["fake_cpu_share"] for b in self.batches),
            "incomplete_batches": sum(1 for b in self.batches if not b["complete"]),
            "post_errors": sum(b["post_errors"] for b in self.batches),
            "missing_answers": sum(b["missing_answers"] + b["trickle_missing"] for b in self.batches),
            "refused_answers": sum(b["calls"].get(fake_min.REFUSED, 0) for b in self.batches),
        }
        for key, values in (
            ("latency", self.latencies_ms),
            ("trickle", self.trickle_ms),
            ("trickle_during_post_flood", self.trickle_flood_ms),
            ("trickle_after_post_flood", self.trickle_backlog_ms),
        ):
            if values:
                lat = sorted(values)
                out[key] = {
                    "samples": len(lat),
                    **{f"p{p}_ms": round(ev._pct(lat, p), 2) for p in (50, 95, 99)},
                    "max_ms": round(lat[-1], 2),
                }
        out["batches"] = self.batches
        return out


class LogRecorder(logging.Handler):
    """Counts WARNING+ records per level; keeps (and prints) the first few, with their tracebacks."""

    KEEP = 5

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: dict[str, int] = {}
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] = self.counts.get(record.levelname, 0) + 1
        if len(self.first) < self.KEEP:
            text = f"{record.levelname} {record.name}: {record.getMessage()}"
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            self.first.append(text)
            print(text, file=sys.stderr, flush=True)

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(routes: list[web.RouteDef], probe: ReadinessProbe) -> tuple[web.AppRunner, int]:
    port = _free_port()
    runner = web.AppRunner(build_web_app(probe, routes), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    return runner, port


# --------------------------------------------------------------------------- the two bots


class EchoBot:
    """The baseline: PTB, our transport, a webhook handler like ours, one echo handler. No database."""

    def __init__(self, api_url: str) -> None:
        self.app = (
            Application.builder()
            .token(TOKEN)
            .base_url(api_url)
            .request(AiohttpRequest())
            .concurrent_updates(64)
            .updater(None)
            .build()
        )
        self.app.add_handler(MessageHandler(filters.TEXT, self.echo))
        self.runner: web.AppRunner | None = None
        self.url = ""

    @staticmethod
    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    async def webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, SECRET.encode()):
            return web.Response(status=403, text="forbidden")
        try:
            data = json.loads(await request.read())
            update = Update.de_json(data, self.app.bot) if isinstance(data, dict) else None
        except (ValueError, TypeError, KeyError):
            update = None
        if update is None or not isinstance(data.get("update_id"), int):
            return web.Response(status=400, text="not a Telegram update")
        await self.app.update_queue.put(update)
        return web.Response(text="ok")

    async def start(self) -> None:
        await self.app.initialize()  # getMe
        await self.app.start()
        self.runner, port = await _serve([web.post("/echo/webhook", self.webhook)], ReadinessProbe({}))
        self.url = f"http://127.0.0.1:{port}/echo/webhook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.app.stop()
        await self.app.shutdown()


class OurBot:
    """``bot.build_app`` with Telegram in webhook mode against the fake, served as ``bot.py run`` serves it."""

    def __init__(self, url: str, api_url: str, tmp: Path, redis_url: str | None, concurrency: int = 16) -> None:
        self.port = _free_port()
        settings = Settings(
            _env_file=None,
            database_url=url,
            redis_url=redis_url,
            media_dir=tmp / "media",
            admins="",
            telegram_bot_token=TOKEN,
            telegram_api_url=api_url,
            telegram_webhook_secret=SECRET,
            public_base_url=f"http://127.0.0.1:{self.port}",
            telegram_concurrency=concurrency,
        )
        kv = make_kv_store(redis_url, namespace=REDIS_NAMESPACE) if redis_url else None
        self.app = bot.build_app(settings, clock=SystemClock(), kv=kv)
        assert self.app.telegram is not None
        self.channel = self.app.telegram
        self.url = f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        await bot.prepare(self.app, migrate=True)
        await bot.import_path(self.app, bot.DEMO_CATALOG)
        self.runner = web.AppRunner(build_web_app(bot.readiness_probe(self.app), self.channel.routes()))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, backlog=1024).start()
        await self.channel.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.app.close()

    async def orders(self, user_ids: range, concurrency: int = 8) -> list[fake_min.Order]:
        """One pending ``python-basics`` order per user, through ``/buy`` (which also creates the user)."""
        dispatch, caps = self.app.dispatcher.dispatch, self.channel.caps
        gate = asyncio.Semaphore(concurrency)

        async def one(uid: int) -> fake_min.Order:
            sender = Sender(Ref("telegram", str(uid)), "en", "Bench")
            async with gate:
                replies = await dispatch(Message(sender, f"/buy {COURSE}"), caps)
            invoice = next((r for r in replies if isinstance(r, InvoiceReply)), None)
            if invoice is None:
                raise RuntimeError(f"/buy {COURSE} for telegram:{uid} gave no invoice: {replies}")
            return uid, invoice.order_code, invoice.price.amount, invoice.price.currency

        return list(await asyncio.gather(*(one(u) for u in user_ids)))


# --------------------------------------------------------------------------- the benchmark


class Runner:
    """Runs the scenarios of one database against the shared fake and echo bot."""

    def __init__(
        self, args: argparse.Namespace, fake: fake_min.FakeProcess, echo: EchoBot, ours: OurBot, log: LogRecorder
    ) -> None:
        self.args = args
        self.fake = fake
        self.echo = echo
        self.ours = ours
        self.log = log
        self.scenarios = {name: Scenario(name) for name in ORDER}
        self.users = list(range(CATALOG_USERS, CATALOG_USERS + args.n))
        self.profile: cProfile.Profile | None = cProfile.Profile() if args.profile else None

    async def _load(self, url: str, profile: bool = False, **spec: Any) -> tuple[dict[str, Any], float]:
        """One batch; (the fake's result, this process's CPU seconds during it)."""
        gc.collect()
        cpu0 = time.process_time()
        if profile and self.profile is not None:
            self.profile.enable()
        try:
            result = await self.fake.load(
                url=url, secret=SECRET, concurrency=self.args.concurrency, timeout=LOAD_TIMEOUT, **spec
            )
        finally:
            if profile and self.profile is not None:
                self.profile.disable()
        return result, time.process_time() - cpu0

    def _record(self, name: str, result: dict[str, Any], cpu: float, label: str, log_before: dict[str, int]) -> None:
        """Keep one batch of scenario ``name`` and print a progress line."""
        batch, main, side = self.scenarios[name].add(result, cpu)
        batch["log_records"] = {k: v - log_before.get(k, 0) for k, v in self.log.snapshot().items()}
        extra = ""
        for what, values in (("answer", main), ("trickle", side)):
            if values:
                lat = sorted(values)
                extra += f"  {what} p50 {ev._pct(lat, 50):6.1f} p99 {ev._pct(lat, 99):6.1f} ms"
        problems = [
            f"{k}={batch[k]}" for k in ("post_errors", "missing_answers", "trickle_missing") if batch.get(k)
        ] + ([] if batch["complete"] else ["INCOMPLETE"])
        records = {k: v for k, v in batch["log_records"].items() if v}
        print(
            f"  {label:26} {batch['rate']:8.0f} upd/s  {batch['seconds']:6.2f} s  bot cpu "
            f"{batch['bot_cpu_ms_per_update']:5.2f} ms/upd  fake cpu {batch['fake_cpu_share'] * 100:3.0f}%"
            + extra
            + (f"  {' '.join(problems)}" if problems else "")
            + (f"  log {records}" if records else ""),
            file=sys.stderr,
            flush=True,
        )

    async def batch(self, name: str, label: str, url: str, profile: bool = False, **spec: Any) -> None:
        """One timed batch of scenario ``name``."""
        before = self.log.snapshot()
        result, cpu = await self._load(url, profile=profile, **spec)
        self._record(name, result, cpu, label, before)

    async def run(self, db: str) -> dict[str, Any]:
        a, ours, echo = self.args, self.ours, self.echo
        n = a.n
        text: dict[str, Any] = {"kind": "text", "text": TEXT, "users": self.users, "expect": ("sendMessage", n)}
        info: dict[str, Any] = {}

        # Warm-up: connections, caches, prepared statements. A few fresh users first, to count the calls a
        # /catalog makes; then the measured users' first contact (which creates them), kept as "new users".
        await self._load(echo.url, **{**text, "users": self.users[:200], "expect": ("sendMessage", min(n, 200))})
        probe_users = list(range(CATALOG_USERS - 10, CATALOG_USERS))
        info["calls_per_catalog"] = await self._calls_per_update(
            ours.url, kind="text", text=TEXT, users=probe_users, expect=("sendMessage", len(probe_users))
        )
        per_catalog = info["calls_per_catalog"].get("sendMessage", 0.0)
        if per_catalog != 1:
            raise RuntimeError(f"/catalog: expected 1 sendMessage per update, the fake saw {info['calls_per_catalog']}")
        await self.batch(CATALOG_NEW, f"{db} {CATALOG_NEW} (warm-up)", ours.url, **text)

        pay_base = PAY_USERS
        warm_orders = await ours.orders(range(pay_base, pay_base + PAYMENT_WARMUP))
        pay_base += PAYMENT_WARMUP
        pc, _ = await self._load(
            ours.url, kind="pre_checkout", orders=warm_orders, expect=(fake_min.ANSWER_PRE_CHECKOUT, PAYMENT_WARMUP)
        )
        if pc["calls"].get(fake_min.REFUSED):
            raise RuntimeError(f"warm-up pre-checkout refused: {pc['calls']}")
        per_payment = await self._calls_per_update(
            ours.url, kind="payment", orders=warm_orders, expect=("sendMessage", PAYMENT_WARMUP)
        )
        info["calls_per_payment"] = per_payment
        sends = per_payment.get("sendMessage", 0.0)
        if sends < 1 or sends != int(sends):
            raise RuntimeError(f"payment warm-up: {per_payment} sendMessage per payment is not a whole number")
        sends_per_payment = int(sends)

        trickle_orders = await ours.orders(range(TRICKLE_USERS, TRICKLE_USERS + TRICKLE_ORDERS))
        trickle = {"rate": a.trickle_rate, "orders": trickle_orders}
        trickle_n = max(1, round(a.trickle_rate * a.trickle_seconds))
        trickle_alone = [trickle_orders[i % len(trickle_orders)] for i in range(trickle_n)]

        for r in range(a.repeats):
            tag = f"{db} run {r + 1}/{a.repeats}"
            await self.batch(ECHO, f"{tag} {ECHO}", echo.url, **text)
            await self.batch(CATALOG, f"{tag} {CATALOG}", ours.url, profile=True, **text)
            orders = await ours.orders(range(pay_base, pay_base + a.payments))
            pay_base += a.payments
            await self.batch(
                PRE_CHECKOUT,
                f"{tag} {PRE_CHECKOUT}",
                ours.url,
                kind="pre_checkout",
                orders=orders,
                expect=(fake_min.ANSWER_PRE_CHECKOUT, len(orders)),
            )
            await self.batch(
                PAYMENT,
                f"{tag} {PAYMENT}",
                ours.url,
                kind="payment",
                orders=orders,
                expect=("sendMessage", len(orders) * sends_per_payment),
            )
            await self.batch(
                TRICKLE,
                f"{tag} {TRICKLE}",
                ours.url,
                kind="pre_checkout",
                orders=trickle_alone,
                rate=a.trickle_rate,
                expect=(fake_min.ANSWER_PRE_CHECKOUT, trickle_n),
            )
            await self.batch(LOADED, f"{tag} {LOADED}", ours.url, trickle=trickle, **text)
        info["results"] = [self.scenarios[name].summary() for name in ORDER]
        return info

    async def _calls_per_update(self, url: str, **spec: Any) -> dict[str, float]:
        """Send a small batch, wait until the fake is quiet, and count the calls per update by method."""
        before = await self.fake.counts()
        result, _ = await self._load(url, **spec)
        await self._quiet()
        after = await self.fake.counts()
        n = result["n"]
        return {m: round((c - before.get(m, 0)) / n, 3) for m, c in after.items() if c != before.get(m, 0)}

    async def _quiet(self, idle: float = 0.5, limit: float = 30.0) -> None:
        """Wait until the fake has seen no new call for ``idle`` seconds."""
        last = await self.fake.counts()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            await asyncio.sleep(idle)
            now = await self.fake.counts()
            if now == last:
                return
            last = now


async def bench_db(
    kind: str, args: argparse.Namespace, fake: fake_min.FakeProcess, echo: EchoBot, log: LogRecorder
) -> dict[str, Any]:
    info: dict[str, Any] = {"db": kind, "loadavg_before": ev._loadavg()}
    log_before = log.snapshot()
    with tempfile.TemporaryDirectory(prefix="ks-bench-tg-") as tmp:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            info["server_version"] = sqlite3.sqlite_version
        else:
            url = args.pg_url
            info["server_version"] = await ev.ensure_pg_database(url)
        info["url"] = make_url(url).render_as_string(hide_password=True)
        ours = OurBot(url, fake.api_url, Path(tmp), args.redis_url, args.bot_concurrency)
        try:
            t0 = time.perf_counter()
            await ours.start()
            runner = Runner(args, fake, echo, ours, log)
            info.update(await runner.run(kind))
            info["seconds"] = round(time.perf_counter() - t0, 1)
            if runner.profile is not None:
                path = args.profile.with_name(f"{args.profile.stem}-{kind}{args.profile.suffix or '.prof'}")
                runner.profile.dump_stats(path)
                info["profile"] = str(path)
                print(f"  cProfile of the timed /catalog batches: {path}", file=sys.stderr)
        finally:
            await ours.stop()
            if kind == "postgres":
                await ev.reset_pg_schema(url)
    info["log_records"] = {k: v - log_before.get(k, 0) for k, v in log.snapshot().items()}
    info["loadavg_after"] = ev._loadavg()
    by_name = {r["scenario"]: r for r in info["results"]}
    base = by_name[ECHO]["median_ups"]
    info["ratios_to_echo"] = {
        name: round(by_name[name]["median_ups"] / base, 3) for name in (CATALOG, CATALOG_NEW, PAYMENT, LOADED)
    }
    return info


async def clean_redis(url: str) -> int:
    """Delete this benchmark's keys (namespace ``ks-bench:``) from Redis."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=REDIS_NAMESPACE + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await client.delete(*batch)
                batch = []
        if batch:
            deleted += await client.delete(*batch)
    finally:
        await client.aclose()
    return deleted


# --------------------------------------------------------------------------- reporting


def machine() -> dict[str, Any]:
    m = ev.machine()
    m["python-telegram-bot"] = telegram.__version__
    m["aiohttp"] = aiohttp.__version__
    return m


def _fmt_lat(lat: dict[str, Any] | None) -> str:
    if not lat:
        return f"{'':>22}"
    return f"{lat['p50_ms']:6.1f} {lat['p95_ms']:7.1f} {lat['p99_ms']:7.1f}"


def report(out: dict[str, Any]) -> str:
    m = out["machine"]
    s = out["settings"]
    lines = [
        f"machine: nproc {m['cpus']}, {m['cpu_model']}, {m['mem_total_gib']} GiB; Python {m['python']}, "
        f"python-telegram-bot {m['python-telegram-bot']}, aiohttp {m['aiohttp']}, SQLAlchemy {m['sqlalchemy']}",
        f"command: {out['command']}  (started {out['started']}, sources {out['source_digest']})",
        f"N={s['n']} updates per batch (payments {s['payments']}), {s['concurrency']} POSTs in flight, "
        f"{s['repeats']} repeats (median), trickle {s['trickle_rate']}/s, key-value store: {s['kv']}",
    ]
    head = (
        f"{'scenario':28} {'median upd/s':>12} {'min-max':>11} {'÷ echo':>6} {'p50 ms':>6} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'bot cpu':>7} {'fake':>5} {'issues':>6}"
    )
    for d in out["databases"]:
        lines += [
            "",
            f"{d['db']} {d['server_version']} ({d['url']}), {d['seconds']} s, load average "
            f"{d['loadavg_before']} -> {d['loadavg_after']}",
            f"calls per /catalog: {d['calls_per_catalog']}; per payment: {d['calls_per_payment']}",
            head,
            "-" * len(head),
        ]
        base = next(r["median_ups"] for r in d["results"] if r["scenario"] == ECHO)
        for r in d["results"]:
            ratio = f"{r['median_ups'] / base:6.2f}" if r["scenario"] != ECHO else f"{'1.00':>6}"
            lat = r.get("trickle") if r["scenario"] == LOADED else r.get("latency")
            spread = f"{r['min_ups']:.0f}-{r['max_ups']:.0f}"
            issues = r["incomplete_batches"] + r["post_errors"] + r["missing_answers"] + r["refused_answers"]
            lines.append(
                f"{r['scenario']:28} {r['median_ups']:12.0f} {spread:>11} {ratio} {_fmt_lat(lat)} "
                f"{r['bot_cpu_ms_per_update']:7.2f} {r['fake_cpu_share'] * 100:4.0f}% {issues:6d}"
            )
            if r["scenario"] == LOADED:
                for key, label in (
                    ("trickle_during_post_flood", "  trickle during POST flood"),
                    ("trickle_after_post_flood", "  trickle after (backlog)"),
                ):
                    part = r.get(key)
                    if part:
                        lines.append(f"{label:28} {part['samples']:>12} {'queries':>11} {'':6} {_fmt_lat(part)}")
        records = {k: v for k, v in d["log_records"].items() if v}
        lines.append(f"log records (WARNING+): {records or 'none'}")
    lines.append("")
    lines.append(
        "p50/p95/p99: pre-checkout answer latency (for '/catalog + trickle': the trickle's); bot cpu: ms per "
        "update in this process; fake: the fake process's CPU share of the batch"
    )
    for name, verdict in out["targets"].items():
        lines.append(f"target {name}: {verdict['text']} -> {'MET' if verdict['met'] else 'NOT MET'}")
    return "\n".join(lines)


def targets(out: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for d in out["databases"]:
        by_name = {r["scenario"]: r for r in d["results"]}
        ratio = d["ratios_to_echo"][CATALOG]
        result[f"{d['db']} /catalog >= 50% of echo"] = {
            "ratio": ratio,
            "met": ratio >= TARGET_RATIO,
            "text": f"{by_name[CATALOG]['median_ups']:.0f} / {by_name[ECHO]['median_ups']:.0f} upd/s = {ratio:.2f}",
        }
        p99 = by_name[LOADED].get("trickle", {}).get("p99_ms", float("inf"))
        result[f"{d['db']} pre-checkout p99 < 100 ms under /catalog load"] = {
            "p99_ms": p99,
            "met": p99 < TARGET_P99_MS,
            "text": f"p99 {p99:.1f} ms over {by_name[LOADED].get('trickle', {}).get('samples', 0)} queries",
        }
    return result


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("-n", "--n", type=int, default=600, help="updates per batch (default 600)")
    p.add_argument("--payments", type=int, help="orders per pre-checkout / payment batch (default: -n / 3)")
    p.add_argument(
        "--concurrency", type=int, default=16, help="webhook POSTs in flight (default 16: setWebhook's max_connections)"
    )
    p.add_argument(
        "--bot-concurrency", type=int, default=16, help="our bot's TELEGRAM_CONCURRENCY (default 16, as in production)"
    )
    p.add_argument("--repeats", type=int, default=3, help="batches per scenario; the median is reported (3)")
    p.add_argument("--trickle-rate", type=float, default=20.0, help="pre-checkout queries/s in the trickle (20)")
    p.add_argument("--trickle-seconds", type=float, default=3.0, help="length of the idle trickle (3 s)")
    p.add_argument("--redis", action="store_true", help=f"use Redis ({DEFAULT_REDIS}) instead of the in-process KV")
    p.add_argument("--redis-url", default=DEFAULT_REDIS, help=argparse.SUPPRESS)
    p.add_argument("--pg-url", default=ev.DEFAULT_PG_URL, help=f"PostgreSQL URL (default {ev.DEFAULT_PG_URL})")
    p.add_argument("--profile", type=Path, help="cProfile the timed /catalog batches into PATH-<db>.prof")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = p.parse_args(argv)
    if args.payments is None:
        args.payments = max(1, args.n // 3)
    if min(args.n, args.payments, args.concurrency, args.repeats, args.bot_concurrency) < 1 or args.trickle_rate <= 0:
        p.error("-n, --payments, --concurrency, --bot-concurrency, --repeats and --trickle-rate must be positive")
    args.redis_url = args.redis_url if args.redis else None
    return args


async def main_async(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    log = LogRecorder()
    logging.getLogger().addHandler(log)
    out: dict[str, Any] = {
        "benchmark": "telegram-webhook",
        "command": " ".join(["python bench/telegram_webhook.py", *argv]),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source_digest": ev.source_digest(),
        "settings": {
            "n": args.n,
            "payments": args.payments,
            "concurrency": args.concurrency,
            "repeats": args.repeats,
            "trickle_rate": args.trickle_rate,
            "trickle_seconds": args.trickle_seconds,
            "kv": "redis 127.0.0.1:6379" if args.redis_url else "in-process",
            "bot_concurrency": args.bot_concurrency,
        },
        "databases": [],
    }
    fake = fake_min.FakeProcess()
    echo = EchoBot(fake.api_url)
    try:
        await echo.start()
        for kind in kinds:
            print(f"== {kind}", file=sys.stderr, flush=True)
            out["databases"].append(await bench_db(kind, args, fake, echo, log))
    finally:
        await echo.stop()
        fake.close()
        if args.redis_url:
            out["redis_keys_deleted"] = await clean_redis(args.redis_url)
    out["peak_rss_mib"] = ev._peak_rss_mib()
    out["targets"] = targets(out)
    out["log_first_records"] = log.first
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="aiosqlite")
    logging.getLogger().setLevel(logging.WARNING)
    out = asyncio.run(main_async(args, argv))
    print(report(out))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
