#!/usr/bin/env python3
"""Broadcasts through the delivery engine against a fake Telegram Bot API that enforces flood control.

What is measured
----------------
One *send* is one ``sendMessage`` of a broadcast that the fake Bot API (``bench/broadcast_fake.py``, a process
of its own) **accepted** under Telegram's flood control: 30 sends in any 1 s for the bot, 1 per private chat in
any 1 s, paid broadcasts (``allow_paid_broadcast``) 1000 in any 1 s; a send beyond a window is answered 429 and
counted as a *violation* (and pauses the bot, so every send during the pause is a violation too). The fake
counts accepted sends per whole second since the first one, violations, and *duplicates* (chats sent to more
than once). Its own CPU share is reported: if it neared 100 %, the figures would be the fake's, not ours.

Setup (not timed): N recipients, each a user with one Telegram identity (chat ids 1,000,000,001 and up,
distinct), are inserted with plain SQL (``executemany`` on SQLite, ``COPY`` on PostgreSQL), not through
``ensure_user``. An admin (``console:bench-admin``) drafts a broadcast to the audience ``all`` on ``telegram``
(one Markdown text with one action button; ``paid`` for the paid scenarios) with ``core.broadcasts.draft``, and
``core.broadcasts.start`` writes the delivery rows (the production path: the audience is streamed, 1,000 rows
per transaction); its wall time is reported as *materialization*.

The bot under test runs in its own process (``bench/broadcast_worker.py``): ``bot.build_app`` with Telegram in
webhook mode against the fake, and either the delivery worker (``bot.delivery_engine(app)``, its bulk lanes
started, ``engine.run(stop)``; what ``bot.py run --role worker`` runs) or ``bot.serve(app, "all")`` (what
``bot.py run --role all`` runs). Default settings: 32 sends in flight, 200 rows claimed per round, pacing at
98 % of each limit (29.4/s free, 950.6/s paid). From outside, every second, the orchestrator samples each bot
process's CPU time (``/proc/<pid>/stat``, all threads) and RSS (``VmRSS``; ``VmHWM`` is the peak) and asks the
fake for its counts. The run ends when the campaign is DONE (or after ``--send-seconds``). Reported per run:

* ``overall``: accepted sends / (last accepted - first accepted); and N / (campaign done - first send);
* ``sustained``: the mean and the median of the per-second counts over the steady middle, i.e. without the
  first and last ``--trim`` seconds (default 5; the first and last seconds are partial);
* violations, duplicates, the delivery rows' final statuses (all SENT?), the engine's stats per worker;
* worker CPU: seconds (all threads, and the main thread alone), share of one core over the sending, and ms per
  accepted send; peak RSS;
* ``idle_gaps``: pauses between consecutive accepted sends longer than 3 pacing intervals (count, total): time
  the lane was not sending at the pacer's rate (engine rounds, a busy worker, flood pauses).

While it runs, ``<json>.partial.json`` is rewritten every 60 s with the fake's counts so far (so a run that is
killed still leaves them); it is deleted when the run finishes.

Scenarios (``--scenario``):

``free``
    One worker, SQLite, in-process key-value store, a free broadcast to N (default 100,000). Targets:
    sustained >= 29 msg/s (97 % of 30), 0 violations, 0 duplicates.
``paid``
    The same with ``paid`` (default N 100,000). Target: sustained >= 900 msg/s on one worker, 0 violations.
``two-workers``
    Two worker processes on PostgreSQL (database ``ks_bench_broadcast_<pid>``, dropped at the end) and Redis
    (127.0.0.1:6379, namespace ``ks-bench-bc-<pid>:``, deleted at the end), the token buckets shared through
    Redis; free (default N 6,000) or ``--paid`` (default 100,000). Targets: every row SENT exactly once
    (0 duplicates, accepted = N), 0 violations, the combined rate within the limit (no second above 30, or
    1000 paid) and still >= 97 % of it.
``memory``
    One worker, SQLite, a paid broadcast to N (default 1,000,000). Here the worker process itself runs
    ``core.broadcasts.start`` (materializing all N rows, streamed) and then sends; the run is stopped
    ``--send-seconds`` (default 180) after the first send. Reported: peak RSS (``VmHWM``) of the worker over
    materialization + sending, and the RSS samples per phase. Target: < 300 MB.
``checkout``
    ``bot.serve(app, "all")`` (HTTP server, Telegram webhook, pre-checkout desk, scheduler, delivery engine in
    one process) on SQLite, broadcasting free (default N 3,000) or ``--paid`` (default 100,000). 40 pending
    orders are created beforehand through the real path (``Dispatcher.dispatch`` of ``/buy python-basics``, the
    demo catalog imported), as ``bench/telegram_webhook.py`` does. The campaign is held PAUSED while the bot
    starts and a baseline trickle runs (``--idle-seconds`` of pre-checkout queries with no broadcast); then it
    is set RUNNING, and after ``--warmup`` seconds of sending pre-checkout queries arrive at ``--trickle-rate``
    (20/s) for ``--trickle-seconds`` (60) while the broadcast runs at full rate. Latency = arrival of
    ``answerPreCheckoutQuery`` at the fake - start of the webhook POST. Target: p99 < 100 ms.

Usage::

    python bench/broadcast.py --scenario free|paid|two-workers|memory|checkout [-n N] [--paid]
        [--send-seconds S] [--profile PATH] [--json PATH]

``--profile PATH`` cProfiles the (first) worker's engine loop. ``bench/broadcast_pacer_probe.py`` measures the
bulk lane's pacer alone (no HTTP, no database).

Machine: whatever runs it; 2 noisy cores here, shared by the bot, the fake, the database and Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `python bench/broadcast.py` puts bench/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import events as ev  # noqa: E402  (bench/events.py: PostgreSQL setup, machine, percentiles)
import telegram  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import bot  # noqa: E402
from core import broadcasts  # noqa: E402
from core.accounts import grant_role  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.delivery import CampaignStatus, DeliveryStatus  # noqa: E402
from core.events import Message, Sender  # noqa: E402
from core.replies import Button, InvoiceReply  # noqa: E402
from core.users import Ref, Role  # noqa: E402
from storage.kv import make_kv_store  # noqa: E402
from storage.tables import IdentityRow, UserRow  # noqa: E402

TOKEN = "123456:BENCH-token-abcdefghijklmnopq"
SECRET = "bench-webhook-secret-0123456789"
# Per run, so that two runs of this benchmark at once (on a shared machine) never share buckets or a database.
NAMESPACE = f"ks-bench-bc-{os.getpid()}:"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# A database of its own, per run (dropped at the end): bench/events.py and bench/telegram_webhook.py recreate
# ks_bench's schema when they start, and another run of this benchmark may be going on.
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/ks_bench_broadcast"
CHAT_BASE = 1_000_000_000  # recipient i has Telegram chat id CHAT_BASE + i
ORDER_USERS = 3_000_000_000  # Telegram ids of the checkout scenario's buyers
ORDERS = 40
COURSE = "python-basics"
ADMIN = Ref("console", "bench-admin")
TEXT = "**Spring sale**: every course is 30% off this week. Tap below to see the catalog."
BUTTONS = ((Button("Open the catalog", action="catalog"),),)
FREE_LIMIT, PAID_LIMIT = 30, 1000
TARGET_FREE, TARGET_PAID, TARGET_RSS_MIB, TARGET_P99_MS = 29.0, 900.0, 300.0, 100.0
SEED_CHUNK = 20_000
CLK_TCK = os.sysconf("SC_CLK_TCK")

DEFAULT_N = {"free": 100_000, "paid": 100_000, "memory": 1_000_000}


# --------------------------------------------------------------------------- processes


def proc_sample(pid: int) -> dict[str, float] | None:
    """CPU seconds (user + system: all threads, and the main thread alone), RSS and peak RSS (MiB) of a live
    process; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/task/{pid}/stat", encoding="ascii") as fh:
            main = fh.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            status = {k: v for k, _, v in (line.partition(":") for line in fh)}
    except (FileNotFoundError, ProcessLookupError):
        return None
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15 of stat)
    kib = lambda key: int(status.get(key, "0 kB").split()[0])  # noqa: E731
    main_cpu = (int(main[11]) + int(main[12])) / CLK_TCK
    return {"cpu_s": cpu, "main_cpu_s": main_cpu, "rss_mib": kib("VmRSS") / 1024, "hwm_mib": kib("VmHWM") / 1024}


class Fake:
    """The fake Bot API process and its control endpoints."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "broadcast_fake.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        hello = json.loads(self.proc.stdout.readline())
        self.port = int(hello["port"])
        self.pid = int(hello["pid"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.base}/bot"
        self.session: aiohttp.ClientSession | None = None

    async def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self.session

    async def stats(self, gap_ms: float | None = None) -> dict[str, Any]:
        query = f"?gap_ms={gap_ms}" if gap_ms else ""
        async with (await self._session()).get(self.base + "/_bench/stats" + query) as r:
            result: dict[str, Any] = await r.json()
            return result

    async def reset(self) -> None:
        async with (await self._session()).post(self.base + "/_bench/reset") as r:
            await r.read()

    async def load(self, **spec: Any) -> dict[str, Any]:
        async with (await self._session()).post(self.base + "/_bench/load", json=spec) as r:
            result: dict[str, Any] = await r.json()
        if "error" in result:
            raise RuntimeError(f"load generator failed: {result['error']}")
        return result

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Worker:
    """One bot process (``bench/broadcast_worker.py``)."""

    name: str
    proc: asyncio.subprocess.Process
    stats_path: Path
    log_path: Path
    lines: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, float]] = field(default_factory=list)  # t (s since the run's t0), cpu_s, rss_mib, hwm
    reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                self.lines.append({"t": time.monotonic(), **json.loads(line)})
            except ValueError:
                pass

    def saw(self, key: str) -> bool:
        return any(key in line for line in self.lines)

    async def stop(self, timeout: float = 60.0) -> dict[str, Any]:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self.reader is not None:
            await self.reader
        out: dict[str, Any] = {"returncode": self.proc.returncode}
        if self.stats_path.exists():
            out.update(json.loads(self.stats_path.read_text(encoding="utf-8")))
        log = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        levels = {lvl: sum(f" {lvl} " in line for line in log.splitlines()) for lvl in ("WARNING", "ERROR")}
        out["log_records"] = levels
        out["log_first"] = [line for line in log.splitlines() if " WARNING " in line or " ERROR " in line][:5]
        out["log_path"] = str(self.log_path)
        return out


async def spawn_worker(name: str, tmp: Path, config: dict[str, Any]) -> Worker:
    stats_path = tmp / f"{name}-stats.json"
    log_path = tmp / f"{name}.log"
    config = {**config, "stats_path": str(stats_path)}
    config_path = tmp / f"{name}-config.json"
    config_path.write_text(json.dumps(config, default=str), encoding="utf-8")
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115  (the child owns it from here)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH / "broadcast_worker.py"),
        str(config_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
        cwd=tmp,
    )
    log.close()
    w = Worker(name, proc, stats_path, log_path)
    w.reader = asyncio.create_task(w._read())
    return w


# --------------------------------------------------------------------------- the database


def settings_for(url: str, tmp: Path, api_url: str, redis_url: str | None, port: int, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": url,
        "redis_url": redis_url,
        "media_dir": str(tmp / "media"),
        "admins": "",
        "telegram_bot_token": TOKEN,
        "telegram_api_url": api_url,
        "telegram_webhook_secret": SECRET,
        "public_base_url": f"http://127.0.0.1:{port}",
        "http_port": port,
        "log_level": "WARNING",
        **extra,
    }


def build(settings: dict[str, Any]) -> bot.App:
    s = Settings(_env_file=None, **settings)  # type: ignore[call-arg]
    kv = make_kv_store(s.redis_url, namespace=NAMESPACE)
    return bot.build_app(s, clock=SystemClock(), kv=kv)


async def seed_recipients(app: bot.App, n: int, postgres: bool) -> tuple[int, float]:
    """N users with one Telegram identity each, by plain SQL; (first user id, seconds)."""
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    async with app.db.sessions() as s:
        first = int((await s.execute(text("SELECT COALESCE(MAX(id), 0) FROM users"))).scalar_one()) + 1
    if postgres:
        import asyncpg

        dsn = make_url(app.settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            for lo in range(0, n, SEED_CHUNK * 5):
                hi = min(n, lo + SEED_CHUNK * 5)
                await conn.copy_records_to_table(
                    "users",
                    records=[(first + i, f"bc{first + i:013d}", 1, "en", "UTC", "", now) for i in range(lo, hi)],
                    columns=["id", "ref_code", "role", "lang", "timezone", "display_name", "created_at"],
                )
                await conn.copy_records_to_table(
                    "identities",
                    records=[(first + i, "telegram", str(CHAT_BASE + i)) for i in range(lo, hi)],
                    columns=["user_id", "channel", "external_id"],
                )
            await conn.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))")
            await conn.execute("ANALYZE users; ANALYZE identities")
        finally:
            await conn.close()
    else:
        for lo in range(0, n, SEED_CHUNK):
            hi = min(n, lo + SEED_CHUNK)
            async with app.db.sessions() as s:
                await s.execute(
                    insert(UserRow),
                    [
                        {
                            "id": first + i,
                            "ref_code": f"bc{first + i:013d}",
                            "role": 1,
                            "lang": "en",
                            "timezone": "UTC",
                            "display_name": "",
                            "created_at": now,
                        }
                        for i in range(lo, hi)
                    ],
                )
                await s.execute(
                    insert(IdentityRow),
                    [
                        {"user_id": first + i, "channel": "telegram", "external_id": str(CHAT_BASE + i)}
                        for i in range(lo, hi)
                    ],
                )
                await s.commit()
    return first, time.perf_counter() - t0


async def draft_campaign(app: bot.App, paid: bool) -> tuple[int, int, int]:
    """(campaign id, admin user id, audience counted by the draft)."""
    now = app.clock.now()
    async with app.uow() as uow:
        admin = await grant_role(uow, ADMIN, Role.ADMIN, now=now, timezone="UTC")
        d = await broadcasts.draft(uow, admin, TEXT, "all", "telegram", paid, now, buttons=BUTTONS)
        await uow.commit()
    return d.campaign.id, admin.id, d.audience


async def materialize(app: bot.App, campaign_id: int, admin_id: int) -> tuple[int, float]:
    async with app.uow() as uow:
        admin = await uow.users.get(admin_id)
    assert admin is not None
    t0 = time.perf_counter()
    total = await broadcasts.start(app.uow, campaign_id, admin, app.clock.now())
    return total, time.perf_counter() - t0


async def set_status(app: bot.App, campaign_id: int, status: CampaignStatus) -> None:
    async with app.uow() as uow:
        await uow.deliveries.set_campaign(campaign_id, status=status)
        await uow.commit()


async def campaign_status(app: bot.App, campaign_id: int) -> CampaignStatus | None:
    async with app.uow() as uow:
        c = await uow.deliveries.get_campaign(campaign_id)
    return c.status if c is not None else None


async def progress(app: bot.App, campaign_id: int) -> dict[str, int]:
    async with app.uow() as uow:
        p = await uow.deliveries.progress(campaign_id)
    return {str(k): v for k, v in p.items()}


async def create_orders(app: bot.App, n: int) -> list[tuple[int, str, int, str]]:
    """Pending ``python-basics`` orders through ``/buy`` (which also creates the users), as a Telegram user."""
    assert app.telegram is not None
    caps = app.telegram.caps
    out: list[tuple[int, str, int, str]] = []
    for uid in range(ORDER_USERS, ORDER_USERS + n):
        replies = await app.dispatcher.dispatch(
            Message(Sender(Ref("telegram", str(uid)), "en", "Bench"), f"/buy {COURSE}"), caps
        )
        invoice = next((r for r in replies if isinstance(r, InvoiceReply)), None)
        if invoice is None:
            raise RuntimeError(f"/buy {COURSE} gave no invoice: {replies}")
        out.append((uid, invoice.order_code, invoice.price.amount, invoice.price.currency))
    return out


async def drop_pg_database(url: str) -> None:
    import asyncpg

    admin_dsn, name = ev._admin_dsn(url)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def clean_redis(url: str) -> int:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=NAMESPACE + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await client.delete(*batch)
                batch = []
        if batch:
            deleted += await client.delete(*batch)
    finally:
        await client.aclose()
    return deleted


# --------------------------------------------------------------------------- watching a run


@dataclass
class Watch:
    """What the orchestrator saw each second."""

    t0: float
    ticks: list[dict[str, Any]] = field(default_factory=list)


async def watch(
    app: bot.App,
    fake: Fake,
    workers: list[Worker],
    campaign_id: int,
    *,
    expected: int,
    limit_s: float | None,
    stall_s: float,
    label: str,
    deadline_s: float,
    partial: Path | None = None,
) -> tuple[Watch, str]:
    """Sample every second until the campaign is DONE, ``limit_s`` after the first send, a stall or a timeout.

    Every 60 s the fake's counts so far are written to ``partial`` (a run that is killed still leaves them).
    """
    w = Watch(time.monotonic())
    last_accepted, last_change = -1, w.t0
    first_send_at: float | None = None
    why = "timeout"
    n = 0
    while True:
        await asyncio.sleep(1.0)
        n += 1
        now = time.monotonic()
        st = await fake.stats()
        accepted = int(st["accepted"])
        tick: dict[str, Any] = {"t": round(now - w.t0, 2), "accepted": accepted, "violations": st["violations"]}
        for wk in workers:
            s = proc_sample(wk.pid)
            if s is not None:
                wk.samples.append({"t": now - w.t0, **s})
                tick[f"{wk.name}_cpu_s"] = round(s["cpu_s"], 2)
                tick[f"{wk.name}_rss_mib"] = round(s["rss_mib"], 1)
        w.ticks.append(tick)
        if accepted != last_accepted:
            last_accepted, last_change = accepted, now
        if accepted and first_send_at is None:
            first_send_at = now
        if n % 10 == 0:
            prev = w.ticks[-11] if len(w.ticks) > 10 else w.ticks[0]
            rate = (accepted - prev["accepted"]) / max(now - w.t0 - prev["t"], 1e-9)
            rss = " ".join(f"{wk.name} {wk.samples[-1]['rss_mib']:.0f} MiB" for wk in workers if wk.samples)
            print(
                f"  [{label}] {now - w.t0:7.0f} s  accepted {accepted:>9,}/{expected:,}  last 10 s {rate:7.1f}/s  "
                f"violations {st['violations']}  {rss}",
                file=sys.stderr,
                flush=True,
            )
        if partial is not None and n % 60 == 0:
            snapshot = {"label": label, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "fake": st, "ticks": w.ticks}
            partial.write_text(json.dumps(snapshot, default=str) + "\n", encoding="utf-8")
        if any(wk.proc.returncode is not None for wk in workers):
            why = "a bot process exited"
            break
        if n % 2 == 0 and await campaign_status(app, campaign_id) is CampaignStatus.DONE:
            why = "done"
            break
        if limit_s is not None and first_send_at is not None and now - first_send_at >= limit_s:
            why = "send-seconds reached"
            break
        if accepted and now - last_change > stall_s:
            why = f"stalled: no accepted send for {stall_s:.0f} s"
            break
        if now - w.t0 > deadline_s:
            break
    return w, why


def rates(per_second: list[int], trim: int, limit: int) -> dict[str, Any]:
    """Sustained rate over the steady middle of the per-second counts."""
    middle = per_second[trim : len(per_second) - trim] if len(per_second) > 2 * trim + 2 else per_second[1:-1]
    return {
        "seconds_counted": len(middle),
        "trim_s": trim,
        "mean": round(statistics.fmean(middle), 2) if middle else None,
        "median": statistics.median(middle) if middle else None,
        "min": min(middle) if middle else None,
        "max": max(middle) if middle else None,
        "p5": round(ev._pct(sorted(middle), 5), 2) if middle else None,
        "max_any_second": max(per_second) if per_second else None,
        "seconds_over_limit": sum(1 for c in per_second if c > limit),
    }


def summarize(
    fake_stats: dict[str, Any],
    fake_before: dict[str, Any],
    workers: list[Worker],
    worker_out: list[dict[str, Any]],
    watch_: Watch,
    *,
    n: int,
    paid: bool,
    trim: int,
) -> dict[str, Any]:
    per_second = fake_stats["paid_per_second"] if paid else fake_stats["per_second"]
    accepted = fake_stats["accepted"]
    span = (fake_stats["last_s"] or 0.0) - (fake_stats["first_s"] or 0.0)
    limit = PAID_LIMIT if paid else FREE_LIMIT
    out: dict[str, Any] = {
        "recipients": n,
        "paid": paid,
        "accepted": accepted,
        "paid_accepted": fake_stats["paid_accepted"],
        "violations": fake_stats["violations"],
        "violations_by_kind": fake_stats["violations_by_kind"],
        "duplicate_chats": fake_stats["duplicate_chats"],
        "duplicate_sends": fake_stats["duplicate_sends"],
        "distinct_chats": fake_stats["distinct_chats"],
        "bad_requests": fake_stats["bad_requests"],
        "send_span_s": round(span, 2),
        "overall_rate": round((accepted - 1) / span, 2) if span > 0 else None,
        "sustained": rates(per_second, trim, limit),
        "per_second": per_second,
        "fake_cpu_s": round(fake_stats["fake_cpu_s"] - fake_before.get("fake_cpu_s", 0.0), 2),
        "fake_cpu_share": round(fake_stats["fake_cpu_s"] / fake_stats["fake_wall_s"], 3),
        "fake_calls": fake_stats["calls"],
        "idle_gaps": fake_stats.get("gaps"),
    }
    # the sending window, in the watch's clock: from the first tick with a send to the last tick
    first_tick = next((t for t in watch_.ticks if t["accepted"] > 0), None)
    per_worker = []
    for wk, res in zip(workers, worker_out, strict=True):
        samples = wk.samples
        sending = [s for s in samples if first_tick is not None and s["t"] >= first_tick["t"] - 1.0]
        cpu = sending[-1]["cpu_s"] - sending[0]["cpu_s"] if len(sending) > 1 else None
        main_cpu = sending[-1]["main_cpu_s"] - sending[0]["main_cpu_s"] if len(sending) > 1 else None
        wall = sending[-1]["t"] - sending[0]["t"] if len(sending) > 1 else None
        per_worker.append(
            {
                "name": wk.name,
                "pid": wk.pid,
                "engine": res.get("engine"),
                "materialize": res.get("materialize"),
                "cpu_s_sending": round(cpu, 2) if cpu is not None else None,
                "cpu_share_sending": round(cpu / wall, 3) if cpu is not None and wall else None,
                "main_thread_cpu_s_sending": round(main_cpu, 2) if main_cpu is not None else None,
                "peak_rss_mib_vmhwm": round(max((s["hwm_mib"] for s in samples), default=0.0), 1),
                "peak_rss_mib_sampled": round(max((s["rss_mib"] for s in samples), default=0.0), 1),
                "peak_rss_mib_getrusage": res.get("peak_rss_mib"),
                "cpu_user_s_total": res.get("cpu_user_s"),
                "cpu_system_s_total": res.get("cpu_system_s"),
                "returncode": res.get("returncode"),
                "log_records": res.get("log_records"),
                "log_first": res.get("log_first"),
            }
        )
    out["workers"] = per_worker
    total_cpu = sum(w["cpu_s_sending"] or 0.0 for w in per_worker)
    out["worker_cpu_ms_per_send"] = round(total_cpu / accepted * 1000, 3) if accepted else None
    return out


# --------------------------------------------------------------------------- scenarios


@dataclass
class Env:
    args: argparse.Namespace
    fake: Fake
    tmp: Path
    url: str
    postgres: bool
    redis_url: str | None


async def open_db(args: argparse.Namespace, tmp: Path, postgres: bool) -> tuple[str, dict[str, Any]]:
    if postgres:
        version = await ev.ensure_pg_database(args.pg_url)
        return args.pg_url, {"db": "postgresql", "server_version": version}
    import sqlite3

    return f"sqlite+aiosqlite:///{tmp / 'bench.db'}", {"db": "sqlite", "server_version": sqlite3.sqlite_version}


async def broadcast_run(
    env: Env, *, scenario: str, n: int, paid: bool, workers_n: int, role: str = "worker"
) -> dict[str, Any]:
    """Seed, draft, materialize (here, or in the worker for ``memory``), run the worker(s), report."""
    a = env.args
    port = ev_free_port()
    settings = settings_for(env.url, env.tmp, env.fake.api_url, env.redis_url, port)
    app = build(settings)
    info: dict[str, Any] = {}
    try:
        await bot.prepare(app, migrate=True)
        first_uid, seed_s = await seed_recipients(app, n, env.postgres)
        info["seed"] = {"users": n, "seconds": round(seed_s, 1), "first_user_id": first_uid}
        print(f"  seeded {n:,} recipients in {seed_s:.1f} s", file=sys.stderr, flush=True)
        campaign_id, admin_id, counted = await draft_campaign(app, paid)
        info["campaign"] = {"id": campaign_id, "audience_counted_by_draft": counted}
        in_worker = scenario == "memory"
        if not in_worker:
            total, mat_s = await materialize(app, campaign_id, admin_id)
            info["materialize"] = {"rows": total, "seconds": round(mat_s, 1), "where": "orchestrator"}
            print(f"  materialized {total:,} delivery rows in {mat_s:.1f} s", file=sys.stderr, flush=True)
        await env.fake.reset()
        before = await env.fake.stats()
        config: dict[str, Any] = {"settings": settings, "role": role, "namespace": NAMESPACE, "log_level": "WARNING"}
        if a.profile is not None:
            config["profile_path"] = str(a.profile)
        if in_worker:
            config["start_campaign"] = {"campaign_id": campaign_id, "actor_id": admin_id}
        workers = [await spawn_worker(f"worker{i + 1}", env.tmp, config) for i in range(workers_n)]
        limit_s = a.send_seconds if scenario == "memory" else None
        expected_s = n / ((PAID_LIMIT - FREE_LIMIT) * 0.98 if paid else FREE_LIMIT * 0.98 * 1.0)
        try:
            watch_, why = await watch(
                app,
                env.fake,
                workers,
                campaign_id,
                expected=n,
                limit_s=limit_s,
                stall_s=a.stall,
                label=f"{scenario}{' paid' if paid else ''}",
                deadline_s=expected_s * 1.5 + 600 + (n / 3000 if in_worker else 0),
                partial=a.json.with_suffix(".partial.json"),
            )
            done_at = time.monotonic()
        finally:
            outs = [await w.stop() for w in workers]
        # pauses of more than 3 intervals of the pacer's rate: rounds of the engine that left the lane idle
        fake_stats = await env.fake.stats(
            gap_ms=3000 / ((PAID_LIMIT - FREE_LIMIT) * 0.98 if paid else FREE_LIMIT * 0.98)
        )
        info["ended_because"] = why
        info["progress"] = await progress(app, campaign_id)
        info["campaign"]["final_status"] = str(await campaign_status(app, campaign_id))
        info.update(summarize(fake_stats, before, workers, outs, watch_, n=n, paid=paid, trim=a.trim))
        first_tick = next((t for t in watch_.ticks if t["accepted"] > 0), None)
        if first_tick is not None and why == "done":
            info["rows_per_s_first_send_to_done"] = round(n / (done_at - watch_.t0 - first_tick["t"] + 1.0), 2)
        info["rss_samples"] = {
            w.name: [[round(s["t"], 1), round(s["rss_mib"], 1)] for s in w.samples[:: max(1, len(w.samples) // 400)]]
            for w in workers
        }
        if in_worker:
            mat_line = next((ln for w in workers for ln in w.lines if "materialized" in ln), None)
            ready = next((ln for w in workers for ln in w.lines if "ready" in ln), None)
            info["phases"] = _phases(workers[0], watch_, mat_line, ready)
    finally:
        await app.close()
    return info


def _phases(w: Worker, watch_: Watch, mat_line: dict[str, Any] | None, ready: dict[str, Any] | None) -> dict[str, Any]:
    """Peak sampled RSS during materialization and during sending (the worker's own clock marks)."""
    first_send = next((t["t"] for t in watch_.ticks if t["accepted"] > 0), None)
    mat_end = mat_line["t"] - watch_.t0 if mat_line else None
    before = [s["rss_mib"] for s in w.samples if mat_end is not None and s["t"] <= mat_end]
    after = [s["rss_mib"] for s in w.samples if first_send is not None and s["t"] >= first_send]
    return {
        "materialization_end_s": round(mat_end, 1) if mat_end is not None else None,
        "first_send_s": first_send,
        "peak_rss_mib_materializing": round(max(before), 1) if before else None,
        "peak_rss_mib_sending": round(max(after), 1) if after else None,
        "rss_mib_at_end": round(w.samples[-1]["rss_mib"], 1) if w.samples else None,
    }


def ev_free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def checkout_run(env: Env, *, n: int, paid: bool) -> dict[str, Any]:
    """``bot.serve(app, "all")`` broadcasting while pre-checkout queries arrive through the webhook."""
    a = env.args
    port = ev_free_port()
    settings = settings_for(env.url, env.tmp, env.fake.api_url, env.redis_url, port)
    app = build(settings)
    info: dict[str, Any] = {}
    try:
        await bot.prepare(app, migrate=True)
        await bot.import_path(app, bot.DEMO_CATALOG)
        _, seed_s = await seed_recipients(app, n, env.postgres)
        info["seed"] = {"users": n, "seconds": round(seed_s, 1)}
        campaign_id, admin_id, counted = await draft_campaign(app, paid)
        total, mat_s = await materialize(app, campaign_id, admin_id)
        await set_status(app, campaign_id, CampaignStatus.PAUSED)  # held until the baseline trickle is done
        info["campaign"] = {"id": campaign_id, "audience_counted_by_draft": counted}
        info["materialize"] = {"rows": total, "seconds": round(mat_s, 1), "where": "orchestrator"}
        print(f"  seeded {n:,} in {seed_s:.1f} s, materialized in {mat_s:.1f} s", file=sys.stderr, flush=True)
        orders = await create_orders(app, ORDERS)  # after the campaign's rows: the buyers are not recipients
        await env.fake.reset()
        config = {"settings": settings, "role": "all", "namespace": NAMESPACE, "log_level": "WARNING"}
        wk = await spawn_worker("bot-all", env.tmp, config)
        webhook = f"http://127.0.0.1:{port}/telegram/webhook"
        try:
            t_wait = time.monotonic()
            while (await env.fake.stats())["calls"].get("setWebhook", 0) == 0:
                if wk.proc.returncode is not None or time.monotonic() - t_wait > 60:
                    raise RuntimeError(f"the bot did not set its webhook; see {wk.log_path}")
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            spec = {"url": webhook, "secret": SECRET, "kind": "pre_checkout", "concurrency": 8, "timeout": 60}
            k_idle = max(1, round(a.trickle_rate * a.idle_seconds))
            idle = await env.fake.load(
                **spec,
                orders=[orders[i % len(orders)] for i in range(k_idle)],
                rate=a.trickle_rate,
                expect=["answerPreCheckoutQuery", k_idle],
            )
            info["idle_trickle"] = _latency(idle)
            print(f"  idle trickle: {info['idle_trickle']}", file=sys.stderr, flush=True)
            await env.fake.reset()
            before = await env.fake.stats()
            await set_status(app, campaign_id, CampaignStatus.RUNNING)
            t_run = time.monotonic()
            while (await env.fake.stats())["accepted"] == 0 and time.monotonic() - t_run < 30:
                await asyncio.sleep(0.1)
            await asyncio.sleep(a.warmup)
            k = max(1, round(a.trickle_rate * a.trickle_seconds))
            st0 = await env.fake.stats()
            trickle_task = asyncio.create_task(
                env.fake.load(
                    **spec,
                    orders=[orders[i % len(orders)] for i in range(k)],
                    rate=a.trickle_rate,
                    expect=["answerPreCheckoutQuery", k],
                )
            )
            watch_task = asyncio.create_task(
                watch(
                    app,
                    env.fake,
                    [wk],
                    campaign_id,
                    expected=n,
                    limit_s=None,
                    stall_s=a.stall,
                    label=f"checkout{' paid' if paid else ''}",
                    deadline_s=a.trickle_seconds + 120,
                )
            )
            loaded = await trickle_task
            st1 = await env.fake.stats()
            watch_task.cancel()
            try:
                await watch_task
            except asyncio.CancelledError:
                pass
        finally:
            out = await wk.stop()
        info["trickle"] = _latency(loaded)
        series = st1["paid_per_second"] if paid else st1["per_second"]
        lo = int((st0["last_s"] or 0) - (st0["first_s"] or 0)) + 1
        hi = int((st1["last_s"] or 0) - (st1["first_s"] or 0))
        during = series[lo:hi]
        info["broadcast_during_trickle"] = {
            "seconds": len(during),
            "mean_per_s": round(statistics.fmean(during), 2) if during else None,
            "median_per_s": statistics.median(during) if during else None,
            "min_per_s": min(during) if during else None,
            "accepted": sum(during),
        }
        info["violations"] = st1["violations"]
        info["duplicate_chats"] = st1["duplicate_chats"]
        info["accepted_total"] = st1["accepted"]
        info["fake_cpu_share"] = round(st1["fake_cpu_s"] / st1["fake_wall_s"], 3)
        info["fake_cpu_s"] = round(st1["fake_cpu_s"] - before.get("fake_cpu_s", 0.0), 1)
        info["bot"] = {
            k: out.get(k)
            for k in ("returncode", "cpu_user_s", "cpu_system_s", "peak_rss_mib", "log_records", "log_first")
        }
        print(f"  trickle during broadcast: {info['trickle']}", file=sys.stderr, flush=True)
        print(f"  broadcast during trickle: {info['broadcast_during_trickle']}", file=sys.stderr, flush=True)
    finally:
        await app.close()
    return info


def _latency(result: dict[str, Any]) -> dict[str, Any]:
    lat = sorted(result["latencies_ms"])
    return {
        "queries": result["n"],
        "answered": len(lat),
        "missing": result["missing_answers"],
        "refused": result["calls"].get("answerPreCheckoutQuery:refused", 0),
        "post_errors": result["post_errors"],
        **{f"p{p}_ms": round(ev._pct(lat, p), 2) for p in (50, 90, 99)},
        "max_ms": round(lat[-1], 2) if lat else None,
    }


# --------------------------------------------------------------------------- reporting


def machine() -> dict[str, Any]:
    m = ev.machine()
    m["python-telegram-bot"] = telegram.__version__
    m["aiohttp"] = aiohttp.__version__
    return m


def verdicts(scenario: str, info: dict[str, Any], paid: bool) -> dict[str, Any]:
    v: dict[str, Any] = {}
    if scenario in ("free", "paid", "two-workers", "memory"):
        sustained = info["sustained"]["mean"] or 0.0
        target = TARGET_PAID if paid else TARGET_FREE
        v["violations == 0"] = info["violations"] == 0
        v["duplicates == 0"] = info["duplicate_chats"] == 0
        if scenario != "memory":
            v[f"sustained mean >= {target:g}/s"] = sustained >= target
            v["every row SENT"] = info["progress"].get(str(DeliveryStatus.SENT), 0) == info["recipients"]
            v["accepted == N"] = info["accepted"] == info["recipients"]
        if scenario == "two-workers":
            limit = PAID_LIMIT if paid else FREE_LIMIT
            v[f"no second above {limit}"] = info["sustained"]["seconds_over_limit"] == 0
        if scenario == "memory":
            peak = max(w["peak_rss_mib_vmhwm"] for w in info["workers"])
            v[f"peak RSS {peak:.0f} MiB < {TARGET_RSS_MIB:g} MB"] = peak * 1.048576 < TARGET_RSS_MIB
    if scenario == "checkout":
        v[f"pre-checkout p99 {info['trickle']['p99_ms']:.1f} ms < {TARGET_P99_MS:g} ms"] = (
            info["trickle"]["p99_ms"] < TARGET_P99_MS and info["trickle"]["missing"] == 0
        )
        v["violations == 0"] = info["violations"] == 0
    return v


def report(out: dict[str, Any]) -> str:
    info = out["result"]
    m = out["machine"]
    lines = [
        f"machine: nproc {m['cpus']}, {m['cpu_model']}, {m['mem_total_gib']} GiB; Python {m['python']}, "
        f"PTB {m['python-telegram-bot']}, aiohttp {m['aiohttp']}, SQLAlchemy {m['sqlalchemy']}",
        f"command: {out['command']} (started {out['started']}, sources {out['source_digest']}); "
        f"{out['db']['db']} {out['db']['server_version']}, kv {out['kv']}; load {out['loadavg_before']} -> "
        f"{out['loadavg_after']}",
    ]
    if out["scenario"] == "checkout":
        lines.append(f"idle trickle: {info['idle_trickle']}")
        lines.append(f"trickle during broadcast: {info['trickle']}")
        lines.append(f"broadcast during trickle: {info['broadcast_during_trickle']}")
        lines.append(
            f"violations {info['violations']}, duplicates {info['duplicate_chats']}, "
            f"fake cpu {info['fake_cpu_share']:.0%}, bot {info['bot']}"
        )
    else:
        s = info["sustained"]
        lines.append(
            f"N {info['recipients']:,} ({'paid' if info['paid'] else 'free'}), ended: {info['ended_because']}; "
            f"accepted {info['accepted']:,}, violations {info['violations']}, "
            f"duplicate chats {info['duplicate_chats']}, rows {info['progress']}"
        )
        lines.append(
            f"rate: overall {info['overall_rate']}/s over {info['send_span_s']} s; sustained (trim {s['trim_s']} s, "
            f"{s['seconds_counted']} s) mean {s['mean']}/s median {s['median']}/s min {s['min']} p5 {s['p5']} "
            f"max {s['max']}; max in any second {s['max_any_second']}"
        )
        lines.append(
            f"materialize: {info.get('materialize') or [w['materialize'] for w in info['workers']]}; "
            f"seed {info['seed']}; fake cpu {info['fake_cpu_share']:.0%}; "
            f"worker cpu {info['worker_cpu_ms_per_send']} ms/send"
        )
        for w in info["workers"]:
            lines.append(
                f"  {w['name']}: cpu {w['cpu_s_sending']} s ({w['cpu_share_sending']} of a core) while sending; "
                f"peak RSS {w['peak_rss_mib_vmhwm']} MiB (VmHWM), sampled max {w['peak_rss_mib_sampled']} MiB; "
                f"engine {w['engine']}; log {w['log_records']}"
            )
        if "phases" in info:
            lines.append(f"  phases: {info['phases']}")
    for name, ok in out["targets"].items():
        lines.append(f"target {name}: {'MET' if ok else 'NOT MET'}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--scenario", required=True, choices=("free", "paid", "two-workers", "memory", "checkout"))
    p.add_argument("-n", "--n", type=int, help="recipients (defaults: see the module docstring)")
    p.add_argument("--paid", action="store_true", help="two-workers / checkout: a paid broadcast")
    p.add_argument("--db", choices=("sqlite", "postgres"), help="default: postgres for two-workers, else sqlite")
    p.add_argument("--redis", action="store_true", help="use Redis (always on for two-workers)")
    p.add_argument("--redis-url", default=DEFAULT_REDIS, help=argparse.SUPPRESS)
    p.add_argument("--pg-url", default=DEFAULT_PG_URL)
    p.add_argument("--send-seconds", type=float, default=180.0, help="memory: stop this long after the first send")
    p.add_argument("--trim", type=int, default=5, help="seconds left out at each end for the sustained rate (5)")
    p.add_argument("--stall", type=float, default=120.0, help="give up after this long without an accepted send")
    p.add_argument("--trickle-rate", type=float, default=20.0)
    p.add_argument("--trickle-seconds", type=float, default=60.0)
    p.add_argument("--idle-seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=10.0, help="checkout: seconds of sending before the trickle")
    p.add_argument("--profile", type=Path, help="cProfile the (first) worker's engine into PATH")
    p.add_argument("--json", type=Path, help="default: bench/results/broadcast-<scenario>[-paid].json")
    args = p.parse_args(argv)
    paid = args.scenario in ("paid", "memory") or args.paid
    args.is_paid = paid
    if args.n is None:
        if args.scenario == "two-workers":
            args.n = 100_000 if paid else 6_000
        elif args.scenario == "checkout":
            args.n = 100_000 if paid else 3_000
        else:
            args.n = DEFAULT_N[args.scenario]
    if args.db is None:
        args.db = "postgres" if args.scenario == "two-workers" else "sqlite"
    if args.scenario == "two-workers":
        args.redis = True
    pg = make_url(args.pg_url)
    args.pg_url = pg.set(database=f"{pg.database or 'ks_bench_broadcast'}_{os.getpid()}").render_as_string(
        hide_password=False
    )
    if args.json is None:
        suffix = "-paid" if paid and args.scenario in ("two-workers", "checkout") else ""
        args.json = ROOT / "bench" / "results" / f"broadcast-{args.scenario}{suffix}.json"
    return args


async def main_async(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "benchmark": "broadcast",
        "scenario": args.scenario,
        "command": " ".join(["python bench/broadcast.py", *argv]),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source_digest": ev.source_digest(),
        "loadavg_before": ev._loadavg(),
        "kv": f"redis 127.0.0.1:6379 namespace {NAMESPACE}" if args.redis else "in-process",
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    postgres = args.db == "postgres"
    redis_url = args.redis_url if args.redis else None
    fake = Fake()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ks-bench-bc-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            url, out["db"] = await open_db(args, tmp, postgres)
            if redis_url:
                await clean_redis(redis_url)
            env = Env(args, fake, tmp, url, postgres, redis_url)
            if args.scenario == "checkout":
                out["result"] = await checkout_run(env, n=args.n, paid=args.is_paid)
            else:
                workers = 2 if args.scenario == "two-workers" else 1
                out["result"] = await broadcast_run(
                    env, scenario=args.scenario, n=args.n, paid=args.is_paid, workers_n=workers
                )
        finally:
            await fake.close()
            if postgres:
                await drop_pg_database(args.pg_url)
            if redis_url:
                out["redis_keys_deleted"] = await clean_redis(redis_url)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["loadavg_after"] = ev._loadavg()
    out["targets"] = verdicts(args.scenario, out["result"], args.is_paid)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    out = asyncio.run(main_async(args, argv))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    args.json.with_suffix(".partial.json").unlink(missing_ok=True)  # the run finished: its snapshots are stale
    print(report(out))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
