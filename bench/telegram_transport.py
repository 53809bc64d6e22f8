#!/usr/bin/env python3
"""Messages/s through ``telegram.Bot.send_message``: PTB's HTTPXRequest vs our AiohttpRequest.

What is measured
----------------
One *message* is one ``await bot.send_message(chat_id, text)`` on a ``telegram.Bot`` whose ``request`` is
(a) PTB's default transport, ``HTTPXRequest(connection_pool_size=64)``, or (b)
``bots.telegram.transport.AiohttpRequest()`` (pool 64). Everything PTB does runs: building the request
parameters, the HTTP round trip over a kept-alive connection on 127.0.0.1, JSON parsing and building the
returned ``telegram.Message``. Only the transport differs between (a) and (b).

The server is a minimal aiohttp app mimicking the Bot API (``getMe`` and ``sendMessage``, answering a
valid Message JSON). By default it runs in a separate process so that its CPU does not share the
client's event loop (``--server inprocess`` puts it on the same loop, which roughly halves every
figure). With 2 cores, client and server each get one.

With ``--raw`` the same messages are also sent as ``bot.do_api_request("sendMessage", ...)``, which
returns the parsed JSON without building a ``telegram.Message``: the transport's share shows more
clearly there, since building the Message is a large part of ``send_message``'s client-side CPU.

Concurrency ``c``: ``c`` workers on one event loop pull from a shared counter until ``--n`` messages
are sent. Each (transport, concurrency) batch is timed with ``time.perf_counter`` after a warm-up
(connections open), on a fresh ``Bot``; batches are repeated ``--repeats`` times, interleaving the two
transports so drift on a noisy machine hits both alike. Reported: the MEDIAN messages/s (min-max), p50
latency, and the ratio aiohttp / httpx of the medians.

Usage::

    python bench/telegram_transport.py [--n 2000] [--repeats 3] [--concurrency 1,32] [--raw] [--json PATH]

``--json bench/results/telegram-transport.json`` also writes every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/telegram_transport.py` puts bench/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import telegram  # noqa: E402
from aiohttp import web  # noqa: E402
from telegram.request import BaseRequest, HTTPXRequest  # noqa: E402
from telegram.warnings import PTBUserWarning  # noqa: E402

from bots.telegram.transport import AiohttpRequest  # noqa: E402

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
CHAT_ID = 42
TEXT = "Lesson 3 of 12 is ready: Public speaking — the opening minute. Tap below to continue."
WARMUP = 64
TRANSPORTS: dict[str, Callable[[], BaseRequest]] = {
    "httpx": lambda: HTTPXRequest(connection_pool_size=64),
    "aiohttp": lambda: AiohttpRequest(),
}

# --------------------------------------------------------------------------- the fake Bot API


def _bodies() -> tuple[bytes, bytes]:
    me = {"id": 123456789, "is_bot": True, "first_name": "KnowledgeSea", "username": "knowledgesea_bot"}
    message = {
        "message_id": 1001,
        "from": me,
        "chat": {"id": CHAT_ID, "type": "private", "first_name": "Ada"},
        "date": 1_772_413_200,
        "text": TEXT,
    }
    return json.dumps({"ok": True, "result": me}).encode(), json.dumps({"ok": True, "result": message}).encode()


def build_server() -> web.Application:
    get_me, sent = _bodies()

    async def api(request: web.Request) -> web.Response:
        await request.read()  # the body is received in full, not parsed (the server must not be the bottleneck)
        body = sent if request.match_info["method"] == "sendMessage" else get_me
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api)
    return app


async def start_server() -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(build_server(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    return runner, runner.addresses[0][1]


def serve_forever(conn: Connection) -> None:
    """Child process: run the server, report its port, stop when the parent says so (or dies)."""

    async def run() -> None:
        runner, port = await start_server()
        conn.send(port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await runner.cleanup()

    asyncio.run(run())


# --------------------------------------------------------------------------- measuring


@dataclass
class Batch:
    rate: float  # messages/s
    seconds: float
    p50_ms: float


@dataclass
class Result:
    call: str  # "send_message" or "do_api_request"
    transport: str
    concurrency: int
    n: int
    batches: list[Batch] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(b.rate for b in self.batches)


async def run_batch(base_url: str, call: str, transport: str, concurrency: int, n: int) -> Batch:
    bot = telegram.Bot(TOKEN, base_url=base_url, request=TRANSPORTS[transport]())
    async with bot:  # initialize: getMe
        counter = itertools.count()
        latencies: list[float] = []
        send: Callable[[], Awaitable[object]] = (
            (lambda: bot.send_message(CHAT_ID, TEXT))
            if call == "send_message"
            else (lambda: bot.do_api_request("sendMessage", api_kwargs={"chat_id": CHAT_ID, "text": TEXT}))
        )

        async def worker(limit: int, record: bool) -> None:
            while next(counter) < limit:
                started = time.perf_counter()
                await send()
                if record:
                    latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker(WARMUP, False) for _ in range(concurrency)))  # connections open
        counter = itertools.count()
        started = time.perf_counter()
        await asyncio.gather(*(worker(n, True) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Batch(rate=n / seconds, seconds=seconds, p50_ms=statistics.median(latencies) * 1000)


async def measure(args: argparse.Namespace, base_url: str) -> list[Result]:
    keys = [(call, c, t) for call in args.calls for c in args.concurrency for t in TRANSPORTS]
    results = {key: Result(key[0], key[2], key[1], args.n) for key in keys}
    for repeat in range(args.repeats):
        for call in args.calls:
            for concurrency in args.concurrency:
                order = list(TRANSPORTS) if repeat % 2 == 0 else list(reversed(TRANSPORTS))
                for transport in order:
                    batch = await run_batch(base_url, call, transport, concurrency, args.n)
                    results[(call, concurrency, transport)].batches.append(batch)
                    print(
                        f"  repeat {repeat + 1}/{args.repeats}  {call:<15} c={concurrency:<3} {transport:<8} "
                        f"{batch.rate:8.0f} msg/s  p50 {batch.p50_ms:6.2f} ms",
                        file=sys.stderr,
                    )
    return list(results.values())


async def main_async(args: argparse.Namespace) -> list[Result]:
    if args.server == "inprocess":
        runner, port = await start_server()
        try:
            return await measure(args, f"http://127.0.0.1:{port}/bot")
        finally:
            await runner.cleanup()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=serve_forever, args=(child,), daemon=True)
    process.start()
    try:
        port = parent.recv()
        return await measure(args, f"http://127.0.0.1:{port}/bot")
    finally:
        parent.send("stop")
        process.join(5)


# --------------------------------------------------------------------------- reporting


def report(results: list[Result], args: argparse.Namespace) -> dict[str, Any]:
    by_key = {(r.call, r.concurrency, r.transport): r for r in results}
    ratios: dict[str, dict[str, float]] = {}
    for call in args.calls:
        print(
            f"\nBot.{call} (sendMessage), N={args.n}, {args.repeats} repeats, median (min-max); "
            f"server: {args.server}, {os.cpu_count()} CPUs"
        )
        print(f"{'transport':<22}{'concurrency':>12}{'msg/s':>10}{'min-max':>16}{'p50 ms':>9}")
        ratios[call] = {}
        for concurrency in args.concurrency:
            for transport, label in (("httpx", "(a) HTTPXRequest"), ("aiohttp", "(b) AiohttpRequest")):
                r = by_key[(call, concurrency, transport)]
                rates = [b.rate for b in r.batches]
                p50 = statistics.median(b.p50_ms for b in r.batches)
                spread = f"{min(rates):.0f}-{max(rates):.0f}"
                print(f"{label:<22}{concurrency:>12}{r.median:>10.0f}{spread:>16}{p50:>9.2f}")
            ratio = by_key[(call, concurrency, "aiohttp")].median / by_key[(call, concurrency, "httpx")].median
            ratios[call][str(concurrency)] = round(ratio, 2)
            print(f"{'ratio b/a':<22}{concurrency:>12}{ratio:>9.2f}x")
    return {
        "benchmark": "telegram-transport",
        "what": "messages/s through telegram.Bot.send_message against a local fake Bot API",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "python-telegram-bot": telegram.__version__,
            "aiohttp": aiohttp.__version__,
            "httpx": httpx.__version__,
        },
        "settings": {
            "n": args.n,
            "repeats": args.repeats,
            "concurrency": args.concurrency,
            "warmup": WARMUP,
            "server": args.server,
        },
        "results": [
            {
                "call": r.call,
                "transport": r.transport,
                "concurrency": r.concurrency,
                "median_msgs_per_s": round(r.median, 1),
                "batches": [asdict(b) for b in r.batches],
            }
            for r in results
        ],
        "ratio_aiohttp_over_httpx": ratios,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=2000, help="messages per timed batch (default 2000)")
    p.add_argument("--repeats", type=int, default=3, help="timed batches per transport and concurrency (default 3)")
    p.add_argument("--concurrency", default="1,32", help="comma-separated in-flight levels (default 1,32)")
    p.add_argument("--server", choices=("process", "inprocess"), default="process", help="where the fake API runs")
    p.add_argument("--raw", action="store_true", help="also measure Bot.do_api_request (no Message objects)")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = p.parse_args(argv)
    args.calls = ["send_message", "do_api_request"] if args.raw else ["send_message"]
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    if args.n < 1 or args.repeats < 1 or not args.concurrency or min(args.concurrency) < 1:
        p.error("--n, --repeats and every --concurrency must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # do_api_request("sendMessage") warns that Bot.send_message exists: that is the point here
    warnings.filterwarnings("ignore", category=PTBUserWarning)
    results = asyncio.run(main_async(args))
    out = report(results, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
