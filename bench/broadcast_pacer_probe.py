#!/usr/bin/env python3
"""The bulk lane's pacer alone: how many calls per second ``Pacer.wait`` lets through, with no HTTP and no database.

What is measured
----------------
``--callers`` tasks (32, the engine's ``delivery_concurrency``) loop on ``Pacer.wait(chat, paid=...)`` for
``--seconds``, each call with a chat of its own (so only the bot's bucket limits), exactly as the bulk lane
calls it before every send (``bots/telegram/bulk.py``). Each grant's time (``time.monotonic()``) is recorded;
reported: grants per second over the run, the mean gap between grants against the bucket's interval (1 / rate),
and the gap's percentiles. ``--kv memory`` is the in-process store (one worker), ``--kv redis`` is Redis at
127.0.0.1:6379 (namespace ``ks-bench-bc-probe:``, deleted at the end).

The point: every bucket has ``burst=1``, so a token that is taken late (the waiter's ``asyncio.sleep``
overshoots, the loop is busy) is never made up: the rate is ``1 / (1/rate + mean lateness)``, not ``rate``.

Usage: ``python bench/broadcast_pacer_probe.py [--paid] [--kv memory|redis] [--seconds 20] [--callers 32]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bots.telegram.bulk import Pacer  # noqa: E402
from storage.kv import make_kv_store  # noqa: E402

NAMESPACE = "ks-bench-bc-probe:"


async def probe(paid: bool, kv_kind: str, seconds: float, callers: int) -> dict[str, object]:
    kv = make_kv_store("redis://127.0.0.1:6379/0" if kv_kind == "redis" else None, namespace=NAMESPACE)
    pacer = Pacer(kv, f"telegram:probe{time.time_ns()}")
    rate = pacer.paid_rate if paid else pacer.free_rate
    chats = itertools.count(1_000_000_001)
    grants: list[float] = []
    stop_at = time.monotonic() + seconds

    async def caller() -> None:
        while time.monotonic() < stop_at:
            await pacer.wait(next(chats), paid=paid)
            grants.append(time.monotonic())

    await asyncio.gather(*(caller() for _ in range(callers)))
    if kv_kind == "redis":
        client = kv._client  # type: ignore[attr-defined]
        keys = [k async for k in client.scan_iter(match=NAMESPACE + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    await kv.close()
    gaps = sorted(b - a for a, b in itertools.pairwise(grants))
    span = grants[-1] - grants[0]
    return {
        "paid": paid,
        "kv": kv_kind,
        "callers": callers,
        "bucket_rate": round(rate, 2),
        "grants": len(grants),
        "achieved_rate": round((len(grants) - 1) / span, 2),
        "achieved_share_of_bucket_rate": round((len(grants) - 1) / span / rate, 4),
        "interval_ms": round(1000 / rate, 3),
        "gap_mean_ms": round(statistics.fmean(gaps) * 1000, 3),
        "lateness_mean_ms": round((statistics.fmean(gaps) - 1 / rate) * 1000, 3),
        "gap_p50_ms": round(gaps[len(gaps) // 2] * 1000, 3),
        "gap_p99_ms": round(gaps[int(len(gaps) * 0.99)] * 1000, 3),
        "gap_max_ms": round(gaps[-1] * 1000, 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--paid", action="store_true")
    p.add_argument("--kv", choices=("memory", "redis"), default="memory")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--callers", type=int, default=32)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    result = asyncio.run(probe(args.paid, args.kv, args.seconds, args.callers))
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
