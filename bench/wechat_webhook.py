#!/usr/bin/env python3
"""Passive-reply latency and requests per second of ``POST /wechat`` text messages, against a bare wechatpy echo.

What is measured
----------------
One *request* is one POST of a signed, plain-mode WeChat text message to the bot, answered with a passive
reply (HTTP 200, an ``<xml>`` TextReply in the body). The load generator (``bench/wechat_load.py``) runs in
a separate process, so the bot under test has its event loop to itself, as in production; it also serves
a minimal fake MP API (``stable_token``, ``message/custom/send``; calls counted) for whatever the bot sends
by customer-service message after the passive reply. It keeps exactly ``--concurrency`` (50) requests in
flight on one aiohttp session and builds and signs all N requests before the clock starts (distinct nonces,
the current timestamp, a MsgId unique across runs, FromUserName round-robin over ``--users`` (500) openids).
Latency = response read - request start, per request; requests/s = N / the batch's wall time. Every answer
must be HTTP 200 with ``<xml>`` in the body; anything else is counted as a failure.

Scenarios, per database, in the same run:

``echo``
    The baseline, in this process on the same ``build_web_app`` (route ``POST /echo``): what a minimal
    wechatpy bot does - ``wechatpy.utils.check_signature``, ``wechatpy.parse_message``,
    ``TextReply(message=msg, content=msg.content).render()`` - and nothing else. No database.
``/catalog``
    Our bot as ``bot.build_app`` builds it with WeChat settings (plain mode, no WeChat Pay, the fake MP API's
    URL), migrated, the demo catalog imported, ``POST /wechat`` served by ``build_web_app`` with
    ``bot.readiness_probe``, ``app.wechat.start()`` run and ``follow_up_delay`` set to 0. N ``/catalog``
    messages from returning users: a warm-up round (reported as ``/catalog, new users``, one batch per
    database, one message per user of the pool) created them.
``search``
    N free-text messages ``Python`` from the same users: our bot's search path.

Every scenario runs ``--repeats`` times, interleaved (echo, /catalog, search, then again), so drift on a
noisy machine hits all of them alike. We report the MEDIAN requests/s with min-max, latency percentiles
p50/p90/p99 pooled over all repeats (nearest rank), failures, the ratio of our median to the echo's median
of the same database run, the bot process's CPU time per request (all threads, including the
customer-service follow-ups, which are awaited after each batch; not PostgreSQL's) and the load
generator's CPU share of the batch's wall time (near 100 %, the generator, not the bot, is the limit).
Log records at WARNING and above are counted and the first few printed. Each batch also records its own
p50/p90/p99 and the number of SQL statements the bot sent during it (a SQLAlchemy ``before_cursor_execute``
listener): with the in-process user and catalog caches warm, /catalog and search send none, so a non-zero
count marks a cache expiry inside that batch. A full ``gc.collect()`` runs before every batch (as in
``bench/telegram_webhook.py``), so a generation-2 collection rarely falls inside one.

Databases: SQLite in a temporary directory and PostgreSQL ``ks_bench`` on 127.0.0.1 (created if missing,
schema recreated at start and emptied at the end, as ``bench/events.py`` does). The key-value store is
in-process unless ``--redis`` is given (then 127.0.0.1:6379, namespace ``ks-bench:``, keys deleted at the
end). ``--profile PATH`` runs one extra, untimed /catalog batch per database under cProfile after the timed
ones and writes ``PATH-<db>.prof`` (plus the top functions to stderr).

Usage::

    python bench/wechat_webhook.py [--n 2000] [--concurrency 50] [--repeats 3] [--db sqlite,postgres] [--redis]
        [--users 500] [--profile PATH]

Results: a table on stdout, every figure in ``bench/results/wechat_webhook-<timestamp>.json`` and
``bench/results/wechat_webhook-latest.json``.

Target (issue): /catalog on SQLite in one process: p99 < 200 ms and >= 300 requests/s at concurrency 50.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import logging
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/wechat_webhook.py` puts bench/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import events as ev  # noqa: E402  (bench/events.py: databases, machine, digest, percentiles)
import telegram_webhook as tw  # noqa: E402  (bench/telegram_webhook.py: log recorder, ports, Redis cleanup)
import wechat_load as wl  # noqa: E402  (bench/wechat_load.py: the load generator process)
import wechatpy  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from wechatpy.exceptions import InvalidSignatureException  # noqa: E402
from wechatpy.replies import TextReply  # noqa: E402
from wechatpy.utils import check_signature  # noqa: E402

import bot  # noqa: E402
from bots.web import build_web_app  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import Settings  # noqa: E402
from storage.kv import make_kv_store  # noqa: E402

APP_ID = "wx0123456789abcdef"
APP_SECRET = "s" * 32
TOKEN = "wxbenchtoken123"
REDIS_NAMESPACE = tw.REDIS_NAMESPACE
DEFAULT_REDIS = tw.DEFAULT_REDIS
TARGET_P99_MS = 200.0
TARGET_RPS = 300.0
LOAD_TIMEOUT = 60.0
PROBE_USERS = 10
WARMUP = 200
RESULTS = ROOT / "bench" / "results"

ECHO = "echo"
CATALOG_NEW = "/catalog, new users"
CATALOG = "/catalog"
SEARCH = "search"
ORDER = [ECHO, CATALOG_NEW, CATALOG, SEARCH]
TEXTS = {ECHO: "/catalog", CATALOG_NEW: "/catalog", CATALOG: "/catalog", SEARCH: "Python"}


# --------------------------------------------------------------------------- results


@dataclass
class Scenario:
    """The batches of one scenario on one database, and the latencies pooled over them."""

    name: str
    batches: list[dict[str, Any]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, result: dict[str, Any]) -> dict[str, Any]:
        self.latencies_ms += result.pop("latencies_ms")
        self.batches.append(result)
        return result

    def summary(self) -> dict[str, Any]:
        rates = [b["rate"] for b in self.batches]
        lat = sorted(self.latencies_ms)
        return {
            "scenario": self.name,
            "requests_per_batch": self.batches[0]["n"] if self.batches else 0,
            "repeats": len(rates),
            "median_rps": statistics.median(rates),
            "min_rps": min(rates),
            "max_rps": max(rates),
            "latency": {
                "samples": len(lat),
                **{f"p{p}_ms": round(ev._pct(lat, p), 2) for p in (50, 90, 99)},
                "max_ms": round(lat[-1], 2),
            },
            "failures": sum(b["failures"] for b in self.batches),
            "bot_cpu_ms_per_request": statistics.median(b["bot_cpu_ms_per_request"] for b in self.batches),
            "load_cpu_share": statistics.median(b["load_cpu_share"] for b in self.batches),
            "batches": self.batches,
        }


# --------------------------------------------------------------------------- the bot process


async def echo_handler(request: web.Request) -> web.Response:
    """The baseline: a minimal wechatpy bot that echoes a text message as its passive reply."""
    query = request.query
    try:
        check_signature(TOKEN, query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", ""))
    except InvalidSignatureException:
        return web.Response(status=403, text="forbidden")
    msg = wechatpy.parse_message(await request.read())
    xml = TextReply(message=msg, content=getattr(msg, "content", "")).render()
    return web.Response(text=xml, content_type="application/xml")


class WeChatBot:
    """``bot.build_app`` with WeChat against the fake MP API, served as ``bot.py run`` serves it, plus ``/echo``."""

    def __init__(self, url: str, api_url: str, tmp: Path, redis_url: str | None) -> None:
        self.port = tw._free_port()
        settings = Settings(
            _env_file=None,
            database_url=url,
            redis_url=redis_url,
            media_dir=tmp / "media",
            admins="",
            wechat_app_id=APP_ID,
            wechat_app_secret=APP_SECRET,
            wechat_token=TOKEN,
            wechat_api_url=api_url,
            public_base_url=f"http://127.0.0.1:{self.port}",
        )
        kv = make_kv_store(redis_url, namespace=REDIS_NAMESPACE) if redis_url else None
        self.app = bot.build_app(settings, clock=SystemClock(), kv=kv)
        assert self.app.wechat is not None
        self.channel = self.app.wechat
        self.channel.config = replace(self.channel.config, follow_up_delay=0.0)
        self.runner: web.AppRunner | None = None
        base = f"http://127.0.0.1:{self.port}"
        self.url = f"{base}/wechat"
        self.echo_url = f"{base}/echo"
        self.catalog: dict[str, int] = {}
        self.statements = 0  # SQL statements sent to the database (cache misses show up here)
        event.listen(self.app.db.engine.sync_engine, "before_cursor_execute", self._count_statement)

    def _count_statement(self, *_: Any) -> None:
        self.statements += 1

    async def start(self) -> None:
        await bot.prepare(self.app, migrate=True)
        summary = await bot.import_path(self.app, bot.DEMO_CATALOG)
        self.catalog = {"courses": summary.courses_created, "lessons": summary.lessons}
        routes = [*self.channel.routes(), web.post("/echo", echo_handler)]
        self.runner = web.AppRunner(build_web_app(bot.readiness_probe(self.app), routes), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, backlog=1024).start()
        await self.channel.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.app.close()


# --------------------------------------------------------------------------- the benchmark


class Runner:
    """Runs the scenarios of one database against the load generator process."""

    def __init__(self, args: argparse.Namespace, load: wl.LoadProcess, ours: WeChatBot, log: tw.LogRecorder) -> None:
        self.args = args
        self.load = load
        self.ours = ours
        self.log = log
        self.users = wl.openids(args.users)
        self.scenarios = {name: Scenario(name) for name in ORDER}

    async def _batch(
        self, url: str, text: str, n: int, users: list[str], profile: cProfile.Profile | None = None
    ) -> dict[str, Any]:
        """One batch: the generator's result plus this process's CPU (follow-ups drained) and the MP calls."""
        gc.collect()
        calls0 = await self.load.counts()
        statements0 = self.ours.statements
        cpu0 = time.process_time()
        if profile is not None:
            profile.enable()
        try:
            result = await self.load.load(
                url=url,
                token=TOKEN,
                text=text,
                n=n,
                users=users,
                concurrency=self.args.concurrency,
                timeout=LOAD_TIMEOUT,
            )
            t0 = time.perf_counter()
            await self.ours.channel.drain()  # the customer-service follow-ups still under way
            result["drain_seconds"] = round(time.perf_counter() - t0, 3)
        finally:
            if profile is not None:
                profile.disable()
        cpu = time.process_time() - cpu0
        calls1 = await self.load.counts()
        result["bot_cpu_seconds"] = cpu
        result["bot_cpu_ms_per_request"] = cpu / n * 1000
        result["sql_statements"] = self.ours.statements - statements0
        result["mp_calls"] = {k: v - calls0.get(k, 0) for k, v in calls1.items() if v != calls0.get(k, 0)}
        return result

    async def batch(self, name: str, label: str, url: str, n: int, users: list[str]) -> None:
        before = self.log.snapshot()
        result = await self._batch(url, TEXTS[name], n, users)
        result["log_records"] = {
            k: v - before.get(k, 0) for k, v in self.log.snapshot().items() if v != before.get(k, 0)
        }
        lat = sorted(result["latencies_ms"])
        result.update({f"p{p}_ms": round(ev._pct(lat, p), 2) for p in (50, 90, 99)})
        self.scenarios[name].add(result)
        problems = f"  FAILURES {result['failures']} {result['failure_kinds']}" if result["failures"] else ""
        records = f"  log {result['log_records']}" if result["log_records"] else ""
        print(
            f"  {label:34} {result['rate']:7.0f} req/s  {result['seconds']:6.2f} s  p50 {ev._pct(lat, 50):6.1f} "
            f"p90 {ev._pct(lat, 90):6.1f} p99 {ev._pct(lat, 99):6.1f} ms  bot cpu "
            f"{result['bot_cpu_ms_per_request']:5.2f} ms/req  load cpu {result['load_cpu_share'] * 100:3.0f}%  "
            f"SQL {result['sql_statements']}"
            f"{problems}{records}",
            file=sys.stderr,
            flush=True,
        )

    async def run(self, db: str) -> dict[str, Any]:
        a, ours = self.args, self.ours
        info: dict[str, Any] = {}
        # Warm-up: connections, caches, prepared statements; a few probe users count the MP calls per message.
        await self._batch(ours.echo_url, "/catalog", WARMUP, self.users)
        probes = wl.openids(PROBE_USERS, prefix="oProbe")
        for name, text in (("catalog", "/catalog"), ("search", "Python")):
            probe = await self._batch(ours.url, text, PROBE_USERS, probes)
            if probe["failures"]:
                raise RuntimeError(f"{text!r} probe failed: {probe['first_failure']}")
            info[f"mp_calls_per_{name}"] = {k: round(v / PROBE_USERS, 3) for k, v in probe["mp_calls"].items()}
            info[f"sample_reply_{name}"] = probe["sample_reply"]
        await self.batch(CATALOG_NEW, f"{db} {CATALOG_NEW} (warm-up)", ours.url, len(self.users), self.users)
        await self._batch(ours.url, "Python", WARMUP, self.users)
        for r in range(a.repeats):
            tag = f"{db} run {r + 1}/{a.repeats}"
            await self.batch(ECHO, f"{tag} {ECHO}", ours.echo_url, a.n, self.users)
            await self.batch(CATALOG, f"{tag} {CATALOG}", ours.url, a.n, self.users)
            await self.batch(SEARCH, f"{tag} {SEARCH}", ours.url, a.n, self.users)
        info["results"] = [self.scenarios[name].summary() for name in ORDER]
        if a.profile is not None:
            info["profile"] = await self.profile(db)
        return info

    async def profile(self, db: str) -> dict[str, Any]:
        """One extra /catalog batch under cProfile (not part of the figures above)."""
        prof = cProfile.Profile()
        result = await self._batch(self.ours.url, TEXTS[CATALOG], self.args.n, self.users, profile=prof)
        path = self.args.profile.with_name(f"{self.args.profile.stem}-{db}{self.args.profile.suffix or '.prof'}")
        path.parent.mkdir(parents=True, exist_ok=True)
        prof.dump_stats(path)
        for key in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(30)
            print(f"  cProfile of one /catalog batch ({db}), by {key}:\n{buf.getvalue()}", file=sys.stderr)
        return {"path": str(path), "rate_under_profiler": result["rate"], "failures": result["failures"]}


async def bench_db(kind: str, args: argparse.Namespace, load: wl.LoadProcess, log: tw.LogRecorder) -> dict[str, Any]:
    info: dict[str, Any] = {"db": kind, "loadavg_before": ev._loadavg()}
    log_before = log.snapshot()
    with tempfile.TemporaryDirectory(prefix="ks-bench-wx-") as tmp:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            info["server_version"] = sqlite3.sqlite_version
        else:
            url = args.pg_url
            info["server_version"] = await ev.ensure_pg_database(url)
        info["url"] = make_url(url).render_as_string(hide_password=True)
        ours = WeChatBot(url, load.api_url, Path(tmp), args.redis_url)
        try:
            t0 = time.perf_counter()
            await ours.start()
            info["catalog"] = ours.catalog
            info.update(await Runner(args, load, ours, log).run(kind))
            info["seconds"] = round(time.perf_counter() - t0, 1)
        finally:
            await ours.stop()
            if kind == "postgres":
                await ev.reset_pg_schema(url)
    info["log_records"] = {k: v - log_before.get(k, 0) for k, v in log.snapshot().items() if v != log_before.get(k, 0)}
    info["loadavg_after"] = ev._loadavg()
    by_name = {r["scenario"]: r for r in info["results"]}
    base = by_name[ECHO]["median_rps"]
    info["ratios_to_echo"] = {name: round(by_name[name]["median_rps"] / base, 3) for name in ORDER}
    return info


# --------------------------------------------------------------------------- reporting


def machine() -> dict[str, Any]:
    m = ev.machine()
    m["aiohttp"] = aiohttp.__version__
    m["wechatpy"] = wechatpy.__version__
    return m


def report(out: dict[str, Any]) -> str:
    m, s = out["machine"], out["settings"]
    lines = [
        f"machine: nproc {m['cpus']}, {m['cpu_model']}, {m['mem_total_gib']} GiB; Python {m['python']}, "
        f"aiohttp {m['aiohttp']}, wechatpy {m['wechatpy']}, SQLAlchemy {m['sqlalchemy']}, asyncpg {m['asyncpg']}, "
        f"aiosqlite {m['aiosqlite']}, SQLite {m['sqlite']}; {m['platform']}",
        f"command: {out['command']}  (started {out['started']}, sources {out['source_digest']})",
        f"N={s['n']} requests per batch, {s['concurrency']} in flight, {s['users']} users, {s['repeats']} repeats "
        f"(median), key-value store: {s['kv']}",
    ]
    columns = [
        ("scenario", 26),
        ("median req/s", 12),
        ("min-max", 9),
        ("÷ echo", 6),
        ("p50 ms", 6),
        ("p90 ms", 6),
        ("p99 ms", 6),
        ("failures", 8),
        ("bot cpu ms/req", 14),
        ("load cpu", 8),
    ]

    def row(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, (_, w)) in enumerate(zip(cells, columns, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    for d in out["databases"]:
        lines += [
            "",
            f"{d['db']} {d['server_version']} ({d['url']}), {d['seconds']} s, load average "
            f"{d['loadavg_before']} -> {d['loadavg_after']}",
            f"MP API calls per /catalog: {d['mp_calls_per_catalog'] or 'none'}; per search: "
            f"{d['mp_calls_per_search'] or 'none'}",
            row([name for name, _ in columns]),
            "|" + "|".join("-" * (w + 2) for _, w in columns) + "|",
        ]
        for r in d["results"]:
            lat = r["latency"]
            name = r["scenario"] + (f" (x{r['requests_per_batch']})" if r["scenario"] == CATALOG_NEW else "")
            lines.append(
                row(
                    [
                        name,
                        f"{r['median_rps']:.0f}",
                        f"{r['min_rps']:.0f}-{r['max_rps']:.0f}",
                        f"{d['ratios_to_echo'][r['scenario']]:.2f}",
                        f"{lat['p50_ms']:.1f}",
                        f"{lat['p90_ms']:.1f}",
                        f"{lat['p99_ms']:.1f}",
                        f"{r['failures']}",
                        f"{r['bot_cpu_ms_per_request']:.2f}",
                        f"{r['load_cpu_share'] * 100:.0f}%",
                    ]
                )
            )
        lines.append(f"log records (WARNING+): {d['log_records'] or 'none'}")
    lines += [
        "",
        "latency: POST start -> passive reply read, pooled over the repeats (nearest rank); bot cpu: this process, "
        "all threads, follow-ups included; load cpu: the load generator's CPU share of the batch",
    ]
    for name, verdict in out["targets"].items():
        lines.append(f"target {name}: {verdict['text']} -> {'MET' if verdict['met'] else 'NOT MET'}")
    return "\n".join(lines)


def targets(out: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for d in out["databases"]:
        r = next(r for r in d["results"] if r["scenario"] == CATALOG)
        p99, rps = r["latency"]["p99_ms"], r["median_rps"]
        result[f"{d['db']} /catalog p99 < {TARGET_P99_MS:.0f} ms and >= {TARGET_RPS:.0f} req/s"] = {
            "p99_ms": p99,
            "median_rps": rps,
            "met": p99 < TARGET_P99_MS and rps >= TARGET_RPS and r["failures"] == 0,
            "text": f"p99 {p99:.1f} ms, {rps:.0f} req/s (median), {r['failures']} failures",
        }
    return result


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--db", default="sqlite,postgres", help="comma-separated: sqlite, postgres (default both)")
    p.add_argument("-n", "--n", type=int, default=2000, help="requests per batch (default 2000)")
    p.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    p.add_argument("--repeats", type=int, default=3, help="batches per scenario; the median is reported (3)")
    p.add_argument("--users", type=int, default=500, help="openids the messages come from, round-robin (500)")
    p.add_argument("--redis", action="store_true", help=f"use Redis ({DEFAULT_REDIS}) instead of the in-process KV")
    p.add_argument("--redis-url", default=DEFAULT_REDIS, help=argparse.SUPPRESS)
    p.add_argument("--pg-url", default=ev.DEFAULT_PG_URL, help=f"PostgreSQL URL (default {ev.DEFAULT_PG_URL})")
    p.add_argument("--profile", type=Path, help="cProfile one extra /catalog batch per database into PATH-<db>.prof")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/wechat_webhook-*.json")
    args = p.parse_args(argv)
    args.dbs = [d.strip() for d in args.db.replace("both", "sqlite,postgres").split(",") if d.strip()]
    if not args.dbs or any(d not in ("sqlite", "postgres") for d in args.dbs):
        p.error("--db takes a comma-separated list of sqlite and postgres")
    if min(args.n, args.concurrency, args.repeats, args.users) < 1:
        p.error("--n, --concurrency, --repeats and --users must be positive")
    args.redis_url = args.redis_url if args.redis else None
    return args


async def main_async(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    log = tw.LogRecorder()
    logging.getLogger().addHandler(log)
    out: dict[str, Any] = {
        "benchmark": "wechat-webhook",
        "command": " ".join(["python bench/wechat_webhook.py", *argv]),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source_digest": ev.source_digest(),
        "settings": {
            "n": args.n,
            "concurrency": args.concurrency,
            "repeats": args.repeats,
            "users": args.users,
            "kv": "redis 127.0.0.1:6379" if args.redis_url else "in-process",
        },
        "databases": [],
    }
    load = wl.LoadProcess()
    try:
        await load.start()
        for kind in args.dbs:
            print(f"== {kind}", file=sys.stderr, flush=True)
            out["databases"].append(await bench_db(kind, args, load, log))
    finally:
        await load.close()
        if args.redis_url:
            out["redis_keys_deleted"] = await tw.clean_redis(args.redis_url)
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
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        text = json.dumps(out, indent=2, default=str) + "\n"
        stamped = RESULTS / f"wechat_webhook-{time.strftime('%Y%m%dT%H%M%S')}.json"
        stamped.write_text(text, encoding="utf-8")
        (RESULTS / "wechat_webhook-latest.json").write_text(text, encoding="utf-8")
        print(f"wrote {stamped.relative_to(ROOT)} and bench/results/wechat_webhook-latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
