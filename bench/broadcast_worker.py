#!/usr/bin/env python3
"""One bot process for ``bench/broadcast.py``: a delivery worker (``--role worker``) or the whole bot (``all``).

It builds the app exactly as ``bot.py run`` does (``bot.build_app(Settings(...))``, ``bot.prepare`` without
migrating), with one difference: the key-value store gets the benchmark's namespace (``ks-bench-bc-<pid>:``,
chosen by ``bench/broadcast.py``), so that the shared token buckets in Redis can be deleted afterwards; ``bot.py``
has no setting for it.

``worker``
    What ``bot.serve(app, "worker")`` does for the delivery engine, spelled out so that the engine's stats can
    be reported: ``engine, lanes = bot.delivery_engine(app)``, ``await lane.start()`` for every bulk lane,
    ``gc.collect(); gc.freeze()``, ``engine.run(stop)`` until SIGTERM, then the lanes are stopped. Telegram runs
    in webhook mode in these benchmarks, so a worker does not poll for updates (as with ``--role web`` plus
    workers in production).
``all``
    ``bot.serve(app, "all")``: the HTTP server with the Telegram webhook, the channel, the scheduler and the
    delivery engine in one process, until SIGTERM.

``start_campaign`` (optional): before anything else runs, this process itself writes the campaign's delivery
rows with ``core.broadcasts.start`` (the production path, streamed a batch per transaction), so that a memory
measurement covers materialization as well as sending. Its wall time is reported.

Usage: ``python bench/broadcast_worker.py CONFIG.json``. The config holds the settings, the role, the
namespace, ``stats_path`` and optionally ``profile_path`` (cProfile the worker's engine into it). At exit the
process writes to ``stats_path`` its engine stats (worker role), CPU seconds (user, system), peak RSS
(``ru_maxrss``) and the materialization time. It prints ``{"ready": true}`` on stdout once the engine (or the
server) runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import json
import logging
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bot  # noqa: E402
from core import broadcasts  # noqa: E402
from core.config import Settings  # noqa: E402
from storage.kv import make_kv_store  # noqa: E402


def _usage() -> dict[str, Any]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_user_s": ru.ru_utime, "cpu_system_s": ru.ru_stime, "peak_rss_mib": round(ru.ru_maxrss / 1024, 1)}


async def _materialize(app: bot.App, spec: dict[str, Any], out: dict[str, Any]) -> None:
    async with app.uow() as uow:
        actor = await uow.users.get(int(spec["actor_id"]))
    assert actor is not None, "the campaign's actor is missing"
    t0 = time.perf_counter()
    total = await broadcasts.start(app.uow, int(spec["campaign_id"]), actor, app.clock.now())
    out["materialize"] = {"rows": total, "seconds": time.perf_counter() - t0, **_usage()}
    print(json.dumps({"materialized": total}), flush=True)


async def run_worker(app: bot.App, stop: asyncio.Event, out: dict[str, Any]) -> None:
    engine, lanes = bot.delivery_engine(app)
    for lane in lanes:
        await lane.start()
    gc.collect()
    gc.freeze()
    print(json.dumps({"ready": True}), flush=True)
    profile = cProfile.Profile() if out.get("profile_path") else None
    if profile is not None:
        profile.enable()
    try:
        await engine.run(stop)
    finally:
        if profile is not None:
            profile.disable()
            profile.dump_stats(out["profile_path"])
        for lane in lanes:
            await lane.stop()
        s = engine.stats
        out["engine"] = {
            "worker": engine.worker,
            "claimed": s.claimed,
            "outcomes": {str(k): v for k, v in s.outcomes.items()},
            "retried": s.retried,
            "floods": s.floods,
            "lost_leases": s.lost_leases,
        }


async def main_async(config: dict[str, Any]) -> dict[str, Any]:
    settings = Settings(_env_file=None, **config["settings"])  # type: ignore[call-arg]
    kv = make_kv_store(settings.redis_url, namespace=config.get("namespace", "ks-bench-bc:"))
    app = bot.build_app(settings, kv=kv)
    out: dict[str, Any] = {"pid": os.getpid(), "role": config["role"], "profile_path": config.get("profile_path")}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await bot.prepare(app, migrate=False)
        if config.get("start_campaign"):
            await _materialize(app, config["start_campaign"], out)
        if config["role"] == "worker":
            await run_worker(app, stop, out)
        else:
            serving = asyncio.ensure_future(bot.serve(app, config["role"]))
            await asyncio.sleep(0)
            print(json.dumps({"ready": True}), flush=True)
            await serving  # bot.serve installs its own SIGTERM handler and returns after a clean shutdown
    finally:
        await app.close()
    out.update(_usage())
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    logging.basicConfig(
        level=config.get("log_level", "WARNING"),
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    out = asyncio.run(main_async(config))
    with contextlib.suppress(KeyError):
        Path(config["stats_path"]).write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
