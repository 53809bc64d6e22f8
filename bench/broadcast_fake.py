#!/usr/bin/env python3
"""A fast fake Bot API with Telegram's flood control, for ``bench/broadcast.py``; runs in a process of its own.

It is :class:`telegram_fake_min.FakeBotApi` (canned answers for every method the bot calls, a counter per
method, the arrival time of every ``answerPreCheckoutQuery``, and its webhook load generator) plus, for the
*send* methods (``sendMessage``, ``sendPhoto``, ... the set of ``tests/fakes/telegram_flood.py``), the flood
control of ``tests/fakes/telegram_flood.py`` with the same semantics, implemented for 1,000,000 chats:

* sliding windows, checked when the request's handler starts (``time.monotonic()``): the bot, all chats
  together, ``--global-per-s`` sends in any 1 s (30); paid sends (``allow_paid_broadcast`` true) count against
  ``--paid-per-s`` in any 1 s (1000) instead; one private chat (id > 0) ``--per-chat-per-s`` in any 1 s (1);
  one group (id < 0) ``--per-group-per-min`` in any 60 s (20);
* a send that would exceed a window is answered ``429 Too Many Requests: retry after N`` with
  ``parameters.retry_after`` = N (whole seconds until the window frees, at least 1), counted as a
  **violation**, and pauses the bot for N s; while a pause runs *any* send is a violation too (429 with the
  seconds left);
* a send that passes is counted in the windows and answered ``200`` with a valid Message (``message_id``
  counting up, ``from`` the bot, ``chat`` the private chat of ``chat_id``, ``date``, ``text``).

What it counts (``GET /_bench/stats``; ``POST /_bench/reset`` zeroes everything and frees the windows):
accepted sends (free and paid), violations ("limit" and "paused"), the accepted sends per whole second since
the first one (``per_second``; violations per second too), **duplicates** (chats that were sent to more than
once: ``duplicate_chats``, ``duplicate_sends``), distinct chats, first/last accepted send (seconds since the
reset), with ``?gap_ms=G`` the pauses longer than G ms between consecutive accepted sends (count, total,
longest), the fake's own CPU seconds (``time.process_time()``) and peak RSS, and the calls per method.
``POST /_bench/load`` runs :meth:`telegram_fake_min.LoadGenerator.run` with the JSON body as its spec (the
pre-checkout stream: POSTs to the bot's webhook, answer latency = arrival of ``answerPreCheckoutQuery`` - POST
start) and answers with its result. ``getUpdates`` long-polls: it answers ``[]`` after its ``timeout``
(at most 10 s), so a bot in polling mode idles quietly.

Run: ``python bench/broadcast_fake.py [--port 0] [--global-per-s 30 --per-chat-per-s 1 --per-group-per-min 20
--paid-per-s 1000]``; it prints one JSON line ``{"port": N, "pid": P}`` on stdout when it listens, and stops
on SIGTERM/SIGINT or when its stdin closes.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import collections
import contextlib
import itertools
import json
import math
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: telegram_fake_min

import telegram_fake_min as fake_min
from aiohttp import web

__all__ = ["SEND_METHODS", "BroadcastFake", "Flood"]

#: Lower-case method names that send a message (``tests/fakes/telegram_flood.py``'s set).
SEND_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "sendvideo",
        "senddocument",
        "sendaudio",
        "sendvoice",
        "sendanimation",
        "sendmediagroup",
        "sendinvoice",
        "sendsticker",
        "sendvideonote",
        "sendlocation",
        "sendcontact",
        "sendpoll",
        "senddice",
        "copymessage",
        "forwardmessage",
    }
)
_PRUNE_EVERY = 5.0  # seconds between sweeps of per-chat windows that can no longer matter


class Flood:
    """Telegram's limits as sliding windows (see the module docstring); ``check`` returns 0 or the 429's N."""

    def __init__(self, global_per_s: int, per_chat_per_s: int, per_group_per_min: int, paid_per_s: int) -> None:
        self.global_per_s = global_per_s
        self.per_chat_per_s = per_chat_per_s
        self.per_group_per_min = per_group_per_min
        self.paid_per_s = paid_per_s
        self.reset()

    def reset(self) -> None:
        self.paused_until = 0.0
        self.free: collections.deque[float] = collections.deque()
        self.paid: collections.deque[float] = collections.deque()
        # chat -> its accepted send times still inside its window (a tuple: a million chats, little memory)
        self.chats: dict[int, tuple[float, ...]] = {}
        self._pruned_at = time.monotonic()

    def check(self, now: float, chat: int | None, paid: bool) -> tuple[int, str]:
        """(0, "ok") and the send counted; or (N, "paused" | "limit"): answer 429 with retry_after N."""
        if now < self.paused_until:
            return max(1, math.ceil(self.paused_until - now)), "paused"
        window, limit = (self.paid, self.paid_per_s) if paid else (self.free, self.global_per_s)
        while window and window[0] <= now - 1.0:
            window.popleft()
        wait = max(1, math.ceil(window[len(window) - limit] + 1.0 - now)) if len(window) >= limit else 0
        times: tuple[float, ...] = ()
        if chat is not None:
            span, chat_limit = (60.0, self.per_group_per_min) if chat < 0 else (1.0, self.per_chat_per_s)
            times = tuple(t for t in self.chats.get(chat, ()) if t > now - span)
            if len(times) >= chat_limit:
                wait = max(wait, max(1, math.ceil(times[len(times) - chat_limit] + span - now)))
        if wait:
            self.paused_until = now + wait
            return wait, "limit"
        window.append(now)
        if chat is not None:
            self.chats[chat] = (*times, now)
        if now - self._pruned_at > _PRUNE_EVERY:
            self._prune(now)
        return 0, "ok"

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        self.chats = {c: ts for c, ts in self.chats.items() if ts[-1] > now - (60.0 if c < 0 else 1.0)}


class BroadcastFake(fake_min.FakeBotApi):
    """``FakeBotApi`` with flood control and broadcast counters on the send methods."""

    def __init__(self, flood: Flood) -> None:
        super().__init__()
        self.flood = flood
        self.bodies["getUpdates"] = fake_min._ok([])
        self.bodies["getWebhookInfo"] = fake_min._ok(
            {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        )
        self._bot_json = json.dumps(
            {"id": fake_min.BOT_ID, "is_bot": True, "first_name": "KnowledgeSea", "username": fake_min.BOT_USERNAME}
        )
        self.reset()

    def reset(self) -> None:
        self.flood.reset()
        self.t0 = time.monotonic()
        self.first_at: float | None = None
        self.last_at_send = 0.0
        self.accepted = 0
        self.paid_accepted = 0
        self.violations: collections.Counter[str] = collections.Counter()
        self.per_second: collections.Counter[int] = collections.Counter()
        self.paid_per_second: collections.Counter[int] = collections.Counter()
        self.violations_per_second: collections.Counter[int] = collections.Counter()
        self.seen: set[int] = set()
        self.duplicate_sends = 0
        self.duplicates: collections.Counter[int] = collections.Counter()  # chat -> sends beyond the first
        self.bad_requests = 0
        self.arrivals = array.array("d")  # every accepted send's arrival (monotonic seconds)
        self.message_id = 0
        self.cpu0 = time.process_time()
        self.calls.clear()

    # -- the Bot API ---------------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        method = request.match_info["method"]
        low = method.lower()
        if low == "getupdates":
            return await self._get_updates(request)
        if low not in SEND_METHODS:
            return await super().handle(request)
        self.calls[method] += 1
        body = await request.read()
        try:
            params: dict[str, Any] = json.loads(body) if body else {}
            chat_raw = params.get("chat_id")
            chat = int(chat_raw) if chat_raw is not None else None
        except (ValueError, TypeError):
            self.bad_requests += 1
            return _error(400, "Bad Request: can't parse JSON (the bench fake reads JSON bodies only)")
        paid = params.get("allow_paid_broadcast") is True
        wait, verdict = self.flood.check(now, chat, paid)
        if wait:
            self.violations[verdict] += 1
            self.violations_per_second[int(now - self.t0)] += 1
            return _error(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        if self.first_at is None:
            self.first_at = now
        self.last_at_send = now
        self.arrivals.append(now)
        second = int(now - self.first_at)
        self.accepted += 1
        self.per_second[second] += 1
        if paid:
            self.paid_accepted += 1
            self.paid_per_second[second] += 1
        if chat is not None:
            if chat in self.seen:
                self.duplicate_sends += 1
                self.duplicates[chat] += 1
            else:
                self.seen.add(chat)
        self.message_id += 1
        text = json.dumps(str(params.get("text") or params.get("caption") or "")[:64])
        kind = "supergroup" if chat is not None and chat < 0 else "private"
        result = (
            f'{{"ok":true,"result":{{"message_id":{self.message_id},"from":{self._bot_json},'
            f'"chat":{{"id":{chat or 0},"type":"{kind}","first_name":"Bench","title":"Bench"}},'
            f'"date":{int(time.time())},"text":{text}}}}}'
        )
        return web.Response(body=result.encode(), content_type="application/json")

    async def _get_updates(self, request: web.Request) -> web.Response:
        self.calls["getUpdates"] += 1
        body = await request.read()
        try:
            timeout = float(json.loads(body).get("timeout") or 0) if body else 0.0
        except (ValueError, TypeError, AttributeError):
            timeout = 0.0
        await asyncio.sleep(min(max(timeout, 0.0), 10.0))
        return web.Response(body=self.bodies["getUpdates"], content_type="application/json")

    # -- control ---------------------------------------------------------------------------------------------------

    def gaps(self, threshold: float) -> dict[str, Any]:
        """Pauses between consecutive accepted sends longer than ``threshold`` seconds: how many, how long."""
        a = self.arrivals
        long_gaps = [b - x for x, b in itertools.pairwise(a) if b - x > threshold]
        return {
            "threshold_ms": threshold * 1000,
            "count": len(long_gaps),
            "total_s": round(sum(long_gaps), 3),
            "max_ms": round(max(long_gaps) * 1000, 1) if long_gaps else 0.0,
        }

    def stats(self, gap_threshold: float | None = None) -> dict[str, Any]:
        first = self.first_at
        extra = {"gaps": self.gaps(gap_threshold)} if gap_threshold else {}
        return {
            **extra,
            "accepted": self.accepted,
            "paid_accepted": self.paid_accepted,
            "violations": sum(self.violations.values()),
            "violations_by_kind": dict(self.violations),
            "distinct_chats": len(self.seen),
            "duplicate_chats": len(self.duplicates),
            "duplicate_sends": self.duplicate_sends,
            "duplicate_examples": [c for c, _ in self.duplicates.most_common(10)],
            "bad_requests": self.bad_requests,
            "first_s": None if first is None else first - self.t0,
            "last_s": None if first is None else self.last_at_send - self.t0,
            "per_second": _dense(self.per_second),
            "paid_per_second": _dense(self.paid_per_second),
            "violations_per_second": {str(k): v for k, v in sorted(self.violations_per_second.items())},
            "fake_cpu_s": time.process_time() - self.cpu0,
            "fake_wall_s": time.monotonic() - self.t0,
            "fake_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "calls": dict(self.calls),
            "answered_pre_checkouts": len(self.answered),
        }

    def web_app(self) -> web.Application:
        app = super().web_app()
        app.router.add_get("/_bench/stats", self._stats)
        app.router.add_post("/_bench/reset", self._reset)
        app.router.add_post("/_bench/load", self._load)
        return app

    async def _stats(self, request: web.Request) -> web.Response:
        gap = request.query.get("gap_ms")
        return web.json_response(self.stats(float(gap) / 1000 if gap else None))

    async def _reset(self, _request: web.Request) -> web.Response:
        self.reset()
        self.answered.clear()
        return web.json_response({"ok": True})

    async def _load(self, request: web.Request) -> web.Response:
        spec = await request.json()
        spec["expect"] = tuple(spec["expect"])
        try:
            result = await fake_min.LoadGenerator(self).run(spec)
        except Exception as exc:  # report to the caller rather than 500 without a reason
            return web.json_response({"error": f"{type(exc).__name__}: {exc}"})
        return web.json_response(result)


def _dense(counter: collections.Counter[int]) -> list[int]:
    """Counts per second 0..last (seconds without a send are 0)."""
    if not counter:
        return []
    return [counter.get(s, 0) for s in range(max(counter) + 1)]


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


async def serve(args: argparse.Namespace) -> None:
    api = BroadcastFake(Flood(args.global_per_s, args.per_chat_per_s, args.per_group_per_min, args.paid_per_s))
    runner = web.AppRunner(api.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=2048)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.read()  # returns at EOF: the parent went away
        loop.call_soon_threadsafe(stop.set)

    loop.run_in_executor(None, watch_stdin)
    port = runner.addresses[0][1]
    print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--global-per-s", type=int, default=30)
    p.add_argument("--per-chat-per-s", type=int, default=1)
    p.add_argument("--per-group-per-min", type=int, default=20)
    p.add_argument("--paid-per-s", type=int, default=1000)
    args = p.parse_args(argv)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
