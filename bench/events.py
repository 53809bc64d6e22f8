#!/usr/bin/env python3
"""Events per second through handlers and core (issue 2).

What is measured
----------------
One *event* is one call of :meth:`handlers.Dispatcher.dispatch` with a
console :class:`core.events.Message` and the console channel's
``CAPABILITIES``: open a unit of work, resolve the user from its REF, route
the command, run the handler against the real database, build the neutral
replies and commit. Nothing is rendered (no console output), so the figure is
the cost of handlers + core + storage, which every channel pays.

Commands:

``/start``
    A returning user: user lookup plus the welcome text and menu.
``/catalog``
    The published courses (``list_courses``: one query with lesson counts, or
    the process's catalog cache when the storage layer has one), sorted for the
    user's language and formatted with prices (Babel) and buttons.
``/next``
    Every benchmark user has bought ``public-speaking`` (drip mode "all", 4
    lessons) through the real ``/buy`` -> pre-checkout -> payment path. /next
    finds the current course (entitlements, plans, progress), then delivers the
    next undelivered lesson (an upsert into ``progress``) or, once all 4 are
    delivered, answers "finished" (reads only, still the full decision path).
    Progress is cleared before every timed batch, so each batch has the same
    mix: events go round-robin over the users, so with the defaults (3,000
    events, 200 users) the first 4 x 200 = 800 events of a batch deliver a
    lesson (write) and the other 2,200 answer "finished". The mix is reported.

Floors (same run, same engine, for ratios that survive a noisy machine):

``floor: empty msg``
    ``dispatch`` of an empty-text Message: the unit of work, the user lookup,
    the hint text and the commit, no handler query. This is the cheapest
    possible event, so ``/catalog ÷ floor`` shows what the handler itself costs.
``floor: SELECT 1``
    A session (one transaction) running ``SELECT 1`` and closing: the
    driver/pool/ORM-session round trip with no application code at all.

Modes: ``seq`` (one event at a time, one process: the headline figure) and
``cN`` (N events in flight on one event loop, N workers pulling from a shared
counter). Each (mode, command) batch of ``--events`` events is timed with
``time.perf_counter``; batches are repeated ``--repeat`` times, interleaved
across commands so that drift on a noisy machine hits every command alike.
We report the MEDIAN events/s over the repeats with min/max, and p50/p99 of
the per-event latency pooled over all repeats (in concurrent modes the latency
includes waiting for a pooled connection). Peak RSS is ``ru_maxrss`` at the end.

Databases: SQLite in a temporary directory (WAL, synchronous=NORMAL, as
``storage.db`` configures it) and PostgreSQL on 127.0.0.1 in a dedicated
database ``ks_bench`` (created through the ``postgres`` database if missing;
its ``public`` schema is recreated at start and emptied at the end, so the
test database is never touched). The demo catalog is imported with
``bot.import_path``; the clock is ``SystemClock`` and the key-value store an
in-process ``MemoryKeyValueStore``. Nothing but 127.0.0.1 is contacted.

Usage::

    python bench/events.py --db sqlite|postgres|both --events 3000 --repeat 5 [--json out.json]

Target (issue 2): at least 1,000 /catalog events per second on SQLite, one
process, sequential.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import itertools
import json
import logging
import os
import platform
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/events.py` puts bench/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import sqlalchemy  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import bot  # noqa: E402
from bots.console import CAPABILITIES, SANDBOX_PROVIDER  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.events import Message, PaymentSucceeded, PreCheckout, Sender  # noqa: E402
from core.i18n import translator  # noqa: E402
from core.replies import CheckoutAnswer, InvoiceReply, Reply, TextReply  # noqa: E402
from core.users import Ref  # noqa: E402
from storage.kv import MemoryKeyValueStore  # noqa: E402

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/ks_bench"
NEXT_COURSE = "public-speaking"  # drip "all": /next delivers all 4 lessons, then "finished"
FLOOR_EMPTY = "floor: empty msg"
FLOOR_SELECT = "floor: SELECT 1"
COMMANDS: dict[str, str] = {FLOOR_EMPTY: "", "/start": "/start", "/catalog": "/catalog", "/next": "/next"}
ORDER = [FLOOR_SELECT, FLOOR_EMPTY, "/start", "/catalog", "/next"]
TARGET_CATALOG_SQLITE = 1000.0

EventFn = Callable[[int], Awaitable[list[Reply] | None]]


# --------------------------------------------------------------------------- results


@dataclass
class Batch:
    rate: float  # events/s
    seconds: float
    cpu_seconds: float  # this process's CPU time (all threads, so aiosqlite's worker too; not PostgreSQL's)
    p50_ms: float
    p99_ms: float
    errors: int
    delivered: int | None = None  # /next: lessons delivered in this batch


@dataclass
class Result:
    db: str
    mode: str
    command: str
    events: int
    batches: list[Batch] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list, repr=False)  # seconds, pooled over batches

    def summary(self) -> dict[str, Any]:
        rates = [b.rate for b in self.batches]
        lat = sorted(self.latencies)
        delivered = [b.delivered for b in self.batches if b.delivered is not None]
        return {
            "db": self.db,
            "mode": self.mode,
            "command": self.command,
            "events_per_batch": self.events,
            "repeats": len(rates),
            "median_eps": statistics.median(rates),
            "min_eps": min(rates),
            "max_eps": max(rates),
            "cpu_ms_per_event": statistics.median(b.cpu_seconds / self.events for b in self.batches) * 1000,
            "p50_ms": _pct(lat, 50) * 1000,
            "p99_ms": _pct(lat, 99) * 1000,
            "errors": sum(b.errors for b in self.batches),
            "delivered_per_batch": delivered[0] if delivered and len(set(delivered)) == 1 else delivered or None,
            "batches": [asdict(b) for b in self.batches],
        }


def _pct(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


class _ErrorCounter(logging.Handler):
    """Counts what the dispatcher logs as a failed handler (it never raises)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            exc = record.exc_info[1] if record.exc_info else None
            self.first = f"{record.getMessage()}: {exc!r}"[:300]


# --------------------------------------------------------------------------- timing


async def run_batch(fn: EventFn, n: int, concurrency: int) -> tuple[float, list[float]]:
    """Run events 0..n-1 through ``fn`` with ``concurrency`` in flight; (wall seconds, latencies)."""
    latencies: list[float] = []
    clock = time.perf_counter
    gc.collect()
    if concurrency <= 1:
        start = clock()
        for i in range(n):
            t0 = clock()
            await fn(i)
            latencies.append(clock() - t0)
        return clock() - start, latencies

    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < n:
            t0 = clock()
            await fn(i)
            latencies.append(clock() - t0)

    start = clock()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return clock() - start, latencies


# --------------------------------------------------------------------------- databases


def _admin_dsn(url: str) -> tuple[str, str]:
    """(asyncpg DSN of the ``postgres`` maintenance database, name of the bench database)."""
    u = make_url(url)
    if u.host not in (None, "127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to benchmark a non-local PostgreSQL host: {u.host}")
    name = u.database or "ks_bench"
    if name in ("postgres", "template0", "template1", "test"):
        raise SystemExit(f"refusing to recreate the schema of database {name!r}: use a dedicated one")
    admin = u.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), name


async def ensure_pg_database(url: str) -> str:
    """Create the bench database if missing and give it an empty ``public`` schema. Returns the server version."""
    admin_dsn, name = _admin_dsn(url)
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    await reset_pg_schema(url)
    return str(version)


async def reset_pg_schema(url: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


# --------------------------------------------------------------------------- the benchmark


def build_bench_app(url: str, tmp: Path) -> bot.App:
    """The app as production builds it, with an in-process store and the wall clock."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        redis_url=None,
        media_dir=tmp / "media",
        admins="",
    )
    return bot.build_app(settings, clock=SystemClock(), kv=MemoryKeyValueStore())


class Bench:
    def __init__(self, app: bot.App, db_label: str, users: int) -> None:
        self.app = app
        self.db_label = db_label
        self.senders = [Sender(ref=Ref.parse(f"console:u{i}"), language_code="en") for i in range(users)]
        self.internal_error = translator("en")("error.internal")
        self.bad_replies = 0

    def _check(self, replies: list[Reply]) -> None:
        first = replies[0] if replies else None
        if not isinstance(first, TextReply) or first.text == self.internal_error:
            self.bad_replies += 1

    def message_fn(self, text_: str) -> EventFn:
        dispatch, senders, n_users, check = self.app.dispatcher.dispatch, self.senders, len(self.senders), self._check

        async def fn(i: int) -> list[Reply]:
            replies = await dispatch(Message(senders[i % n_users], text_), CAPABILITIES)
            check(replies)
            return replies

        return fn

    def select1_fn(self) -> EventFn:
        sessions = self.app.db.sessions
        stmt = text("SELECT 1")

        async def fn(i: int) -> None:
            async with sessions() as s:
                await s.execute(stmt)
            return None

        return fn

    async def setup(self) -> None:
        """Users (via /start) and a paid ``public-speaking`` for each (via /buy, pre-checkout, payment)."""
        d = self.app.dispatcher
        for sender in self.senders:
            await d.dispatch(Message(sender, "/start"), CAPABILITIES)
        for i, sender in enumerate(self.senders):
            invoice = next(
                r
                for r in await d.dispatch(Message(sender, f"/buy {NEXT_COURSE}"), CAPABILITIES)
                if isinstance(r, InvoiceReply)
            )
            answer = await d.dispatch(PreCheckout(sender, invoice.order_code, invoice.price), CAPABILITIES)
            if not (answer and isinstance(answer[0], CheckoutAnswer) and answer[0].ok):
                raise RuntimeError(f"pre-checkout refused for {sender.ref}: {answer}")
            await d.dispatch(
                PaymentSucceeded(sender, SANDBOX_PROVIDER, f"bench_{i}", invoice.order_code, invoice.price),
                CAPABILITIES,
            )
        async with self.app.db.engine.connect() as conn:
            owned = (await conn.execute(text("SELECT count(*) FROM entitlements"))).scalar_one()
        if owned != len(self.senders):
            raise RuntimeError(f"expected {len(self.senders)} entitlements after setup, found {owned}")

    async def clear_progress(self) -> None:
        async with self.app.db.engine.begin() as conn:
            await conn.execute(text("DELETE FROM progress"))

    async def delivered(self) -> int:
        async with self.app.db.engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM progress"))).scalar_one())

    async def run(self, modes: list[tuple[str, int]], events: int, repeat: int, errors: _ErrorCounter) -> list[Result]:
        fns: dict[str, EventFn] = {FLOOR_SELECT: self.select1_fn()}
        fns.update({name: self.message_fn(t) for name, t in COMMANDS.items()})
        # Warm-up: one event per user per command (caches, prepared statements, pool).
        for name in ORDER:
            if name == "/next":
                await self.clear_progress()
            await run_batch(fns[name], len(self.senders), 1)
        results: list[Result] = []
        for mode, conc in modes:
            per_mode = {name: Result(self.db_label, mode, name, events) for name in ORDER}
            for r in range(repeat):
                for name in ORDER:
                    if name == "/next":
                        await self.clear_progress()
                    before_err, before_bad = errors.count, self.bad_replies
                    cpu0 = time.process_time()
                    seconds, lat = await run_batch(fns[name], events, conc)
                    cpu = time.process_time() - cpu0
                    lat_sorted = sorted(lat)
                    batch = Batch(
                        rate=events / seconds,
                        seconds=seconds,
                        cpu_seconds=cpu,
                        p50_ms=_pct(lat_sorted, 50) * 1000,
                        p99_ms=_pct(lat_sorted, 99) * 1000,
                        errors=max(errors.count - before_err, self.bad_replies - before_bad),
                        delivered=await self.delivered() if name == "/next" else None,
                    )
                    per_mode[name].batches.append(batch)
                    per_mode[name].latencies.extend(lat)
                    print(
                        f"  {self.db_label:8} {mode:4} {name:17} run {r + 1}/{repeat}: "
                        f"{batch.rate:8.0f} ev/s  p50 {batch.p50_ms:6.2f} ms  p99 {batch.p99_ms:6.2f} ms"
                        + (f"  errors {batch.errors}" if batch.errors else ""),
                        file=sys.stderr,
                        flush=True,
                    )
            results.extend(per_mode.values())
        return results


async def bench_db(kind: str, args: argparse.Namespace, modes: list[tuple[str, int]]) -> dict[str, Any]:
    errors = _ErrorCounter()
    dlog = logging.getLogger("handlers.dispatcher")
    dlog.addHandler(errors)
    dlog.propagate = False
    info: dict[str, Any] = {"db": kind, "loadavg_before": _loadavg()}
    with tempfile.TemporaryDirectory(prefix="ks-bench-") as tmp:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            info["server_version"] = sqlite3.sqlite_version
        else:
            url = args.pg_url
            info["server_version"] = await ensure_pg_database(url)
        info["url"] = make_url(url).render_as_string(hide_password=True)
        app = build_bench_app(url, Path(tmp))
        try:
            t0 = time.perf_counter()
            await bot.prepare(app, migrate=True)
            summary = await bot.import_path(app, bot.DEMO_CATALOG)
            bench = Bench(app, kind, args.users)
            await bench.setup()
            info["setup_seconds"] = round(time.perf_counter() - t0, 2)
            info["catalog"] = {"courses": summary.courses_created, "lessons": summary.lessons}
            if kind == "sqlite":
                async with app.db.engine.connect() as conn:
                    info["journal_mode"] = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            info["pool"] = app.db.engine.pool.status()
            results = await bench.run(modes, args.events, args.repeat, errors)
            info["results"] = [r.summary() for r in results]
            info["handler_errors"] = errors.count
            info["first_error"] = errors.first
        finally:
            await app.close()
            if kind == "postgres":
                await reset_pg_schema(url)
            dlog.removeHandler(errors)
    info["peak_rss_mib_after"] = _peak_rss_mib()
    info["loadavg_after"] = _loadavg()
    return info


# --------------------------------------------------------------------------- reporting


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def source_digest() -> str:
    """A short hash of the application's Python sources, to tell later runs whether the code changed."""
    h = hashlib.sha256()
    packages = ("core", "handlers", "storage", "bots")
    files = [ROOT / "bot.py", *sorted(p for d in packages for p in (ROOT / d).rglob("*.py"))]
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
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    import aiosqlite

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_total_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "asyncpg": asyncpg.__version__,
        "aiosqlite": aiosqlite.__version__,
        "platform": platform.platform(),
    }


def report(out: dict[str, Any]) -> str:
    lines: list[str] = []
    m = out["machine"]
    lines.append(
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}, {m['mem_total_gib']} GiB; Python {m['python']}, "
        f"SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}"
    )
    lines.append(f"command: {out['command']}  (started {out['started']}, sources {out['source_digest']})")
    head = (
        f"{'db':8} {'mode':4} {'command':17} {'median ev/s':>11} {'min':>7} {'max':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'cpu ms':>6} {'x floor':>7} {'errors':>6}"
    )
    for dbinfo in out["databases"]:
        lines += [
            "",
            f"{dbinfo['db']} {dbinfo['server_version']} ({dbinfo['url']}), setup {dbinfo['setup_seconds']} s, "
            f"load average {dbinfo['loadavg_before']} -> {dbinfo['loadavg_after']}",
        ]
        lines += [head, "-" * len(head)]
        floors = {r["mode"]: r["median_eps"] for r in dbinfo["results"] if r["command"] == FLOOR_EMPTY}
        for r in dbinfo["results"]:
            floor = floors.get(r["mode"])
            ratio = f"{r['median_eps'] / floor:7.2f}" if floor and r["command"] != FLOOR_SELECT else f"{'':7}"
            lines.append(
                f"{r['db']:8} {r['mode']:4} {r['command']:17} {r['median_eps']:11.0f} {r['min_eps']:7.0f} "
                f"{r['max_eps']:7.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['cpu_ms_per_event']:6.2f} {ratio} "
                f"{r['errors']:6d}"
            )
        nxt = [r for r in dbinfo["results"] if r["command"] == "/next"]
        if nxt:
            d, n = nxt[0]["delivered_per_batch"], nxt[0]["events_per_batch"]
            rest = f", {n - d} answered 'finished'" if isinstance(d, int) else ""
            lines.append(f"/next mix per batch of {n}: {d} delivered a lesson{rest}")
        if dbinfo.get("first_error"):
            lines.append(f"first handler error: {dbinfo['first_error']}")
    lines.append("")
    lines.append(f"peak RSS: {out['peak_rss_mib']} MiB")
    verdict = out.get("target")
    if verdict:
        lines.append(
            f"target: /catalog on SQLite, sequential, >= {TARGET_CATALOG_SQLITE:.0f} ev/s: "
            f"{verdict['median_eps']:.0f} ev/s -> {'MET' if verdict['met'] else 'NOT MET'}"
        )
    return "\n".join(lines)


def _modes(spec: str) -> list[tuple[str, int]]:
    modes = [("seq", 1)]
    for part in filter(None, (p.strip() for p in spec.split(","))):
        n = int(part)
        if n > 1:
            modes.append((f"c{n}", n))
    return modes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--events", type=int, default=3000, help="events per timed batch (default 3000)")
    p.add_argument("--repeat", type=int, default=5, help="timed batches per command and mode (default 5)")
    p.add_argument("--users", type=int, default=200, help="distinct console users, round-robin (default 200)")
    p.add_argument("--concurrency", default="8,32", help="in-flight levels besides sequential (default 8,32)")
    p.add_argument("--pg-url", default=DEFAULT_PG_URL, help=f"PostgreSQL URL (default {DEFAULT_PG_URL})")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = p.parse_args(argv)
    if args.events < 1 or args.repeat < 1 or args.users < 1:
        p.error("--events, --repeat and --users must be positive")
    return args


async def main_async(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    modes = _modes(args.concurrency)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    out: dict[str, Any] = {
        "command": " ".join(["python bench/events.py", *argv]),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source_digest": source_digest(),
        "settings": {"events": args.events, "repeat": args.repeat, "users": args.users, "modes": modes},
        "databases": [],
    }
    for kind in kinds:
        print(f"== {kind}", file=sys.stderr, flush=True)
        out["databases"].append(await bench_db(kind, args, modes))
    out["peak_rss_mib"] = _peak_rss_mib()
    for dbinfo in out["databases"]:
        for r in dbinfo["results"]:
            if dbinfo["db"] == "sqlite" and r["mode"] == "seq" and r["command"] == "/catalog":
                out["target"] = {"median_eps": r["median_eps"], "met": r["median_eps"] >= TARGET_CATALOG_SQLITE}
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="aiosqlite")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    out = asyncio.run(main_async(args, argv))
    print(report(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
