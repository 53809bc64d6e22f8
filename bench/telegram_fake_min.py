"""A minimal, fast fake Bot API plus a webhook load generator, for ``bench/telegram_webhook.py``.

It runs in its own process (:class:`FakeProcess` spawns it; ``serve_forever`` is the child's entry point),
so that its CPU does not share the bot's event loop. Two jobs, one event loop:

The fake Bot API (``POST /bot<token>/<method>``)
    Answers every method python-telegram-bot and our bot call with a result ``de_json`` accepts: ``getMe``
    -> the bot's User; ``sendMessage``, ``editMessageText``, ``sendInvoice`` and the ``send<Media>``
    methods -> one canned Message (message_id, date, chat, text); ``sendMediaGroup`` -> a list of one;
    ``createInvoiceLink`` -> a link; anything else (``answerCallbackQuery``, ``answerPreCheckoutQuery``,
    ``setMyCommands``, ``setMyDescription``, ``setMyShortDescription``, ``setWebhook``, ``deleteWebhook``
    ...) -> ``true``. Nothing is validated and nothing is stored except a call counter per method and,
    per pre-checkout query id, the ``time.perf_counter()`` at which its ``answerPreCheckoutQuery``
    arrived (refusals, ``ok=false``, are counted as ``answerPreCheckoutQuery:refused``).

The load generator (:meth:`LoadGenerator.run`)
    POSTs updates to the bot's webhook (secret header set) with at most ``concurrency`` POSTs in flight,
    as Telegram does with ``max_connections``. The webhook answers as soon as the update is queued, so the
    bot's backlog can grow: the figure is how fast the bot *works off* the updates, measured from the first
    POST until the expected number of calls of one method (``expect``: e.g. N ``sendMessage`` for N text
    messages, N ``answerPreCheckoutQuery`` for N queries) has arrived at the fake. Updates are built and
    serialized before the clock starts. Kinds:

    * ``text``: N private messages with ``text`` from the user ids given (a ``bot_command`` entity when the
      text starts with ``/``);
    * ``pre_checkout``: N ``pre_checkout_query`` updates for the given orders ``(user_id, payload, amount,
      currency)``; answer latency = arrival of the answer - start of the POST;
    * ``payment``: N ``message.successful_payment`` updates for the given orders, each with a distinct
      charge id.

    ``rate`` paces the main stream (updates/s, open loop) instead of sending as fast as possible, and
    ``trickle`` adds a side stream of pre-checkout queries at a steady rate on its own connections (so it
    never queues behind the main stream's POSTs) for as long as the main stream runs; its answer latencies
    are reported separately.

The parent talks to the child over a ``multiprocessing`` pipe: it sends a spec dict (``op`` = ``load``,
``counts`` or ``stop``) and gets a result dict back. update_ids come from a counter started at the child's
wall clock in microseconds, so they never repeat across runs (the bot deduplicates them, in Redis too).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import multiprocessing
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["BOT_ID", "FakeBotApi", "FakeProcess", "LoadGenerator", "serve_forever"]

BOT_ID = 123456
BOT_USERNAME = "knowledgesea_bench_bot"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ANSWER_PRE_CHECKOUT = "answerPreCheckoutQuery"
REFUSED = ANSWER_PRE_CHECKOUT + ":refused"
DATE = 1_772_413_200
_TRUE = b'{"ok":true,"result":true}'

Order = tuple[int, str, int, str]  # (telegram user id, invoice payload = order code, amount, currency)


def _ok(result: object) -> bytes:
    return json.dumps({"ok": True, "result": result}, separators=(",", ":")).encode()


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Bench", "language_code": "en"}


class FakeBotApi:
    """The Bot API side: canned answers, a counter per method, pre-checkout answer arrival times."""

    def __init__(self) -> None:
        me = {"id": BOT_ID, "is_bot": True, "first_name": "KnowledgeSea", "username": BOT_USERNAME}
        message = {
            "message_id": 1,
            "date": DATE,
            "chat": {"id": 1, "type": "private", "first_name": "Bench"},
            "text": "ok",
        }
        sent = _ok(message)
        self.bodies: dict[str, bytes] = {
            "getMe": _ok(me),
            "sendMediaGroup": _ok([message]),
            "createInvoiceLink": _ok("https://t.me/$bench_invoice"),
        }
        for method in (
            "sendMessage",
            "editMessageText",
            "editMessageReplyMarkup",
            "editMessageCaption",
            "sendInvoice",
            "sendPhoto",
            "sendVideo",
            "sendAudio",
            "sendDocument",
            "sendAnimation",
            "sendVoice",
        ):
            self.bodies[method] = sent
        self.calls: collections.Counter[str] = collections.Counter()
        self.answered: dict[str, float] = {}  # pre_checkout_query_id -> perf_counter() when its answer arrived
        self._wait_method = ""
        self._wait_target = 0
        self._done = asyncio.Event()
        self.done_at = 0.0
        self.last_at = 0.0

    def expect(self, method: str, count: int) -> None:
        """Arm the completion event: set when ``count`` more calls of ``method`` have arrived."""
        self._done = asyncio.Event()
        self._wait_method = method
        self._wait_target = self.calls[method] + count
        self.done_at = 0.0
        self.last_at = time.perf_counter()
        if count <= 0:
            self.done_at = self.last_at
            self._done.set()

    async def wait(self, timeout: float, stall: float) -> bool:
        """True when the expected calls arrived; False after ``timeout`` seconds, or as soon as none of
        them has arrived for ``stall`` seconds (updates that failed are answered differently, or not at all,
        so the count would never be reached)."""
        deadline = time.perf_counter() + timeout
        while not self._done.is_set():
            now = time.perf_counter()
            if now >= deadline or now - self.last_at >= stall:
                return False
            try:
                await asyncio.wait_for(self._done.wait(), min(0.25, deadline - now))
            except TimeoutError:
                pass
        return True

    async def handle(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        method = request.match_info["method"]
        calls = self.calls
        calls[method] += 1
        if method == ANSWER_PRE_CHECKOUT:
            if request.content_type == "application/json":
                body = json.loads(await request.read())
                qid, ok = body.get("pre_checkout_query_id"), body.get("ok") is True
            else:
                form = await request.post()
                qid, ok = form.get("pre_checkout_query_id"), form.get("ok") == "true"
            self.answered[str(qid)] = now
            if not ok:
                calls[REFUSED] += 1
        else:
            await request.read()
        if method == self._wait_method:
            self.last_at = now
            if calls[method] >= self._wait_target and not self._done.is_set():
                self.done_at = now
                self._done.set()
        return web.Response(body=self.bodies.get(method, _TRUE), content_type="application/json")

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)  # uploads, should any lesson have media
        app.router.add_post("/bot{token}/{method}", self.handle)
        return app


class LoadGenerator:
    """Builds updates and POSTs them to a webhook; see the module docstring."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        self._update_ids = itertools.count(time.time_ns() // 1000)

    # -- building updates ---------------------------------------------------------------------------------------

    def _text(self, user_id: int, text: str) -> tuple[str | None, bytes]:
        message: dict[str, Any] = {
            "message_id": 1,
            "from": _user(user_id),
            "chat": {"id": user_id, "type": "private", "first_name": "Bench"},
            "date": DATE,
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return None, json.dumps({"update_id": next(self._update_ids), "message": message}).encode()

    def _pre_checkout(self, order: Order) -> tuple[str | None, bytes]:
        user_id, payload, amount, currency = order
        uid = next(self._update_ids)
        qid = f"q{uid}"
        query = {
            "id": qid,
            "from": _user(user_id),
            "currency": currency,
            "total_amount": amount,
            "invoice_payload": payload,
        }
        return qid, json.dumps({"update_id": uid, "pre_checkout_query": query}).encode()

    def _payment(self, order: Order) -> tuple[str | None, bytes]:
        user_id, payload, amount, currency = order
        uid = next(self._update_ids)
        paid = {
            "currency": currency,
            "total_amount": amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": f"bench-charge-{uid}",
            "provider_payment_charge_id": f"bench-provider-{uid}",
        }
        message = {
            "message_id": 2,
            "from": _user(user_id),
            "chat": {"id": user_id, "type": "private", "first_name": "Bench"},
            "date": DATE,
            "successful_payment": paid,
        }
        return None, json.dumps({"update_id": uid, "message": message}).encode()

    def build(self, spec: dict[str, Any]) -> list[tuple[str | None, bytes]]:
        """(pre-checkout query id or None, JSON body) for every update of the main stream."""
        kind = spec["kind"]
        if kind == "text":
            return [self._text(u, spec["text"]) for u in spec["users"]]
        orders: Iterable[Order] = spec["orders"]
        if kind == "pre_checkout":
            return [self._pre_checkout(o) for o in orders]
        if kind == "payment":
            return [self._payment(o) for o in orders]
        raise ValueError(f"unknown kind {kind!r}")

    # -- sending ------------------------------------------------------------------------------------------------

    async def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Send the main stream (and the trickle, if any); wait for the expected calls; report."""
        url: str = spec["url"]
        headers = {SECRET_HEADER: spec["secret"], "Content-Type": "application/json"}
        concurrency = max(1, int(spec.get("concurrency", 64)))
        rate: float | None = spec.get("rate")
        updates = self.build(spec)
        n = len(updates)
        trickle = spec.get("trickle")
        expect_method, expect_count = spec["expect"]
        api = self.api
        started: dict[str, float] = {}
        post_errors: list[str] = []
        clock = time.perf_counter

        async def post(session: aiohttp.ClientSession, qid: str | None, body: bytes) -> None:
            if qid is not None:
                started[qid] = clock()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        post_errors.append(f"HTTP {response.status}")
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                post_errors.append(f"{type(exc).__name__}: {exc}")

        counter = itertools.count()
        done_sending = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=None, sock_read=float(spec.get("timeout", 120)))
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout)
        side = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16), timeout=timeout)
        before = dict(api.calls)
        api.expect(expect_method, expect_count)
        cpu0 = time.process_time()
        t0 = clock()

        async def worker() -> None:
            while (i := next(counter)) < n:
                if rate:
                    delay = t0 + i / rate - clock()
                    if delay > 0:
                        await asyncio.sleep(delay)
                qid, body = updates[i]
                await post(session, qid, body)

        trickle_ids: list[str] = []

        async def side_stream() -> None:
            assert trickle is not None
            orders: list[Order] = trickle["orders"]
            every = 1.0 / float(trickle["rate"])
            tasks: set[asyncio.Task[None]] = set()
            for k in itertools.count():
                if api.done_at or (done_sending.is_set() and expect_count <= 0):
                    break
                delay = t0 + k * every - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                    if api.done_at:
                        break
                qid, body = self._pre_checkout(orders[k % len(orders)])
                assert qid is not None
                trickle_ids.append(qid)
                task = asyncio.create_task(post(side, qid, body))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)

        side_task = asyncio.create_task(side_stream()) if trickle else None
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        posted_at = clock()
        done_sending.set()
        complete = await api.wait(float(spec.get("timeout", 120)), float(spec.get("stall", 10.0)))
        end = api.done_at if complete else api.last_at  # incomplete: up to the last expected call seen
        cpu = time.process_time() - cpu0
        trickle_latencies: list[float] = []
        trickle_offsets: list[float] = []  # when each answered trickle query was sent, seconds after t0
        trickle_missing = 0
        if side_task is not None:
            await side_task
            deadline = clock() + 10.0  # let the last trickle answers arrive
            while clock() < deadline and not all(q in api.answered for q in trickle_ids):
                await asyncio.sleep(0.01)
            for q in trickle_ids:
                if q in api.answered:
                    trickle_latencies.append((api.answered[q] - started[q]) * 1000)
                    trickle_offsets.append(started[q] - t0)
                else:
                    trickle_missing += 1
        await session.close()
        await side.close()
        latencies = [(api.answered[q] - started[q]) * 1000 for q, _ in updates if q is not None and q in api.answered]
        seconds = end - t0
        return {
            "n": n,
            "seconds": seconds,
            "rate": n / seconds if seconds > 0 else float("nan"),
            "post_seconds": posted_at - t0,
            "complete": complete,
            "expected": [expect_method, expect_count],
            "seen": api.calls[expect_method] - before.get(expect_method, 0),
            "fake_cpu_seconds": cpu,
            "fake_cpu_share": cpu / seconds if seconds > 0 else float("nan"),
            "post_errors": len(post_errors),
            "first_post_error": post_errors[0] if post_errors else None,
            "calls": {m: c - before.get(m, 0) for m, c in api.calls.items() if c != before.get(m, 0)},
            "latencies_ms": latencies,
            "missing_answers": sum(1 for q, _ in updates if q is not None and q not in api.answered),
            "trickle_latencies_ms": trickle_latencies,
            "trickle_offsets_s": trickle_offsets,
            "trickle_missing": trickle_missing,
        }


# --------------------------------------------------------------------------- the child process


def serve_forever(conn: Connection) -> None:
    """Child process: serve the fake API, report its port, then run the parent's specs until ``stop``."""

    async def run() -> None:
        api = FakeBotApi()
        runner = web.AppRunner(api.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        conn.send(runner.addresses[0][1])
        generator = LoadGenerator(api)
        loop = asyncio.get_running_loop()
        try:
            while True:
                spec: dict[str, Any] = await loop.run_in_executor(None, conn.recv)
                op = spec.get("op")
                if op == "stop":
                    break
                if op == "counts":
                    conn.send(dict(api.calls))
                elif op == "load":
                    try:
                        conn.send(await generator.run(spec))
                    except Exception as exc:  # report to the parent rather than hang it
                        conn.send({"error": f"{type(exc).__name__}: {exc}"})
                else:
                    conn.send({"error": f"unknown op {op!r}"})
        finally:
            await runner.cleanup()

    try:
        asyncio.run(run())
    except (EOFError, KeyboardInterrupt):  # the parent went away
        pass


class FakeProcess:
    """The parent's handle on the child: start, ``await call(spec)``, ``close``."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process: BaseProcess = ctx.Process(target=serve_forever, args=(child,), daemon=True)
        self._process.start()
        self.port: int = self._conn.recv()
        self.api_url = f"http://127.0.0.1:{self.port}/bot"
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def call(self, spec: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            self._conn.send(spec)
            result: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(None, self._conn.recv)
        if "error" in result and spec.get("op") == "load":
            raise RuntimeError(f"load generator failed: {result['error']}")
        return result

    async def load(self, **spec: Any) -> dict[str, Any]:
        return await self.call({"op": "load", **spec})

    async def counts(self) -> dict[str, int]:
        return await self.call({"op": "counts"})

    def close(self) -> None:
        try:
            self._conn.send({"op": "stop"})
        except (BrokenPipeError, OSError):
            pass
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
