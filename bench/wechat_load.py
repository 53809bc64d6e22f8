#!/usr/bin/env python3
"""A minimal fake WeChat MP API plus a passive-reply load generator, for ``bench/wechat_webhook.py``.

It runs as its own process (``python bench/wechat_load.py``, started by :class:`LoadProcess`), so its CPU
does not share the bot's event loop. Two jobs, one event loop:

The fake MP API
    ``POST /cgi-bin/stable_token`` -> ``{"access_token": "T", "expires_in": 7200}``;
    ``POST /cgi-bin/message/custom/send`` (and any other path) -> ``{"errcode": 0, "errmsg": "ok"}``.
    Nothing is validated or stored except a call counter per path.

The load generator (:meth:`LoadGenerator.run`)
    POSTs N signed plain-mode text messages to a ``/wechat`` URL with exactly ``concurrency`` requests in
    flight (``concurrency`` workers on one ``aiohttp.ClientSession`` whose connector is limited to
    ``concurrency`` connections). Every request is built before the clock starts: a distinct nonce, the
    current timestamp (the bot checks it against its wall clock, +-5 minutes), ``signature`` = sha1 of the
    sorted token, timestamp and nonce, and an XML body (ToUserName, FromUserName = an openid of the pool,
    round-robin, CreateTime, MsgType text, Content, a MsgId unique across runs). Latency of one request =
    its response fully read - its start (``time.perf_counter``); rate = N / (end of the last - start of the
    first). A request fails unless it answers HTTP 200 with ``<xml>`` in the body (a passive reply, not
    ``success``); failures are counted by kind and the first one is kept.

Control channel: JSON lines. The child writes ``{"port": P}`` on stdout once the fake listens, then reads
one request per line on stdin (``op`` = ``load``, ``counts`` or ``stop``) and writes one JSON answer line
per request. Nothing else is ever written to stdout.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

__all__ = ["ACCOUNT", "FakeMP", "LoadGenerator", "LoadProcess", "openids", "sign"]

ACCOUNT = "gh_0123456789ab"  # ToUserName: the Official Account's original id
_TOKEN_BODY = json.dumps({"access_token": "T", "expires_in": 7200}).encode()
_OK_BODY = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()


def sign(*parts: str) -> str:
    """WeChat's request signature: sha1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def openids(count: int, prefix: str = "oBench") -> list[str]:
    """``count`` valid openids (6-64 characters of [A-Za-z0-9_-]), 28 characters like real ones."""
    return [f"{prefix}_{i:021d}" for i in range(count)]


class FakeMP:
    """The MP API side: canned answers and a call counter per path."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        self.calls[path] += 1
        await request.read()
        body = _TOKEN_BODY if path == "/cgi-bin/stable_token" else _OK_BODY
        return web.Response(body=body, content_type="application/json")

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


class LoadGenerator:
    """Builds signed text messages and POSTs them with a fixed number in flight; see the module docstring."""

    def __init__(self) -> None:
        self._msg_ids = itertools.count(time.time_ns() // 1000)  # never repeats across runs (Redis dedup)
        self._nonces = itertools.count(1)

    def build(self, spec: dict[str, Any]) -> list[tuple[URL, bytes]]:
        base: str = spec["url"]
        token: str = spec["token"]
        users: list[str] = spec["users"]
        text: str = spec["text"]
        n = int(spec["n"])
        now = int(time.time())
        ts = str(now)
        out: list[tuple[URL, bytes]] = []
        for i in range(n):
            nonce = f"{next(self._nonces):010d}"
            query = f"signature={sign(token, ts, nonce)}&timestamp={ts}&nonce={nonce}&openid={users[i % len(users)]}"
            body = (
                f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<FromUserName><![CDATA[{users[i % len(users)]}]]></FromUserName>"
                f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[{text}]]></Content><MsgId>{next(self._msg_ids)}</MsgId></xml>"
            )
            out.append((URL(f"{base}?{query}", encoded=True), body.encode()))
        return out

    async def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        requests = self.build(spec)
        n = len(requests)
        concurrency = max(1, int(spec.get("concurrency", 50)))
        timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 60.0)))
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        latencies: list[float] = [float("nan")] * n
        failures: collections.Counter[str] = collections.Counter()
        first_failure: list[str] = []
        sample: list[str] = []
        clock = time.perf_counter
        counter = itertools.count()
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout)

        def fail(kind: str, detail: str) -> None:
            failures[kind] += 1
            if not first_failure:
                first_failure.append(detail[:500])

        async def worker() -> None:
            while (i := next(counter)) < n:
                url, body = requests[i]
                start = clock()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        data = await response.read()
                        status = response.status
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    latencies[i] = (clock() - start) * 1000
                    fail(type(exc).__name__, f"{type(exc).__name__}: {exc}")
                    continue
                latencies[i] = (clock() - start) * 1000
                if status != 200:
                    fail(f"HTTP {status}", f"HTTP {status}: {data[:300]!r}")
                elif b"<xml>" not in data:
                    fail("not a passive reply", f"HTTP 200 without <xml>: {data[:300]!r}")
                elif not sample:
                    sample.append(data.decode("utf-8", errors="replace")[:400])

        cpu0 = time.process_time()
        t0 = clock()
        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            seconds = clock() - t0
            cpu = time.process_time() - cpu0
            await session.close()
        return {
            "n": n,
            "seconds": seconds,
            "rate": n / seconds if seconds > 0 else float("nan"),
            "latencies_ms": [round(x, 3) for x in latencies],
            "failures": sum(failures.values()),
            "failure_kinds": dict(failures),
            "first_failure": first_failure[0] if first_failure else None,
            "sample_reply": sample[0] if sample else None,
            "load_cpu_seconds": cpu,
            "load_cpu_share": cpu / seconds if seconds > 0 else float("nan"),
        }


# --------------------------------------------------------------------------- the child process


async def serve_forever() -> None:
    """Child process: serve the fake MP API, report its port, then answer the parent's requests until ``stop``."""
    api = FakeMP()
    runner = web.AppRunner(api.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    out = sys.stdout

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        out.flush()

    send({"port": runner.addresses[0][1], "pid": os.getpid()})
    generator = LoadGenerator()
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:  # the parent went away
                break
            spec: dict[str, Any] = json.loads(line)
            op = spec.get("op")
            if op == "stop":
                break
            if op == "counts":
                send({"calls": dict(api.calls)})
            elif op == "load":
                try:
                    send(await generator.run(spec))
                except Exception as exc:  # report to the parent rather than hang it
                    send({"error": f"{type(exc).__name__}: {exc}"})
            else:
                send({"error": f"unknown op {op!r}"})
    finally:
        await runner.cleanup()


class LoadProcess:
    """The parent's handle on the child: ``await start()``, ``await load(**spec)``, ``await counts()``, ``close``."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self.api_url = ""
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # one answer line carries N latencies
        )
        hello = await self._read()
        self.port = int(hello["port"])
        self.api_url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def _read(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        result: dict[str, Any] = json.loads(line)
        return result

    async def call(self, spec: dict[str, Any]) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        async with self._lock:
            self.proc.stdin.write(json.dumps(spec).encode() + b"\n")
            await self.proc.stdin.drain()
            result = await self._read()
        if "error" in result:
            raise RuntimeError(f"load generator failed: {result['error']}")
        return result

    async def load(self, **spec: Any) -> dict[str, Any]:
        return await self.call({"op": "load", **spec})

    async def counts(self) -> dict[str, int]:
        calls: dict[str, int] = (await self.call({"op": "counts"}))["calls"]
        return calls

    async def close(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None and proc.stdin is not None:
            try:
                proc.stdin.write(b'{"op":"stop"}\n')
                await proc.stdin.drain()
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.terminate()
            await proc.wait()
        self.proc = None


if __name__ == "__main__":
    try:
        asyncio.run(serve_forever())
    except KeyboardInterrupt:
        pass
