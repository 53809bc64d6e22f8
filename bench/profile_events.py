#!/usr/bin/env python3
"""Profile one command of bench/events.py, sequential, on the same setup.

Builds the same app as ``bench/events.py`` (temporary SQLite file or the
``ks_bench`` PostgreSQL database, demo catalog, 200 users who bought
``public-speaking``), warms up, then runs ``--events`` sequential events of one
command under cProfile (default) or pyinstrument (``--pyinstrument``, if
installed) and prints the top entries.

    python bench/profile_events.py --db sqlite --command /catalog --events 3000
    python bench/profile_events.py --db sqlite --command /catalog --pyinstrument
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench/ (for events) and the repo root

import events as ev  # noqa: E402  (bench/events.py)

import bot  # noqa: E402


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="ks-prof-") as tmp:
        if args.db == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        else:
            url = args.pg_url
            await ev.ensure_pg_database(url)
        app = ev.build_bench_app(url, Path(tmp))
        try:
            await bot.prepare(app, migrate=True)
            await bot.import_path(app, bot.DEMO_CATALOG)
            bench = ev.Bench(app, args.db, args.users)
            await bench.setup()
            if args.command == ev.FLOOR_SELECT:
                fn = bench.select1_fn()
            else:
                fn = bench.message_fn(ev.COMMANDS.get(args.command, args.command))
            await ev.run_batch(fn, len(bench.senders), 1)  # warm-up
            if args.command == "/next":
                await bench.clear_progress()
            if args.pyinstrument:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005, async_mode="disabled")
                profiler.start()
                seconds, _ = await ev.run_batch(fn, args.events, 1)
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, show_all=False))
            else:
                prof = cProfile.Profile()
                prof.enable()
                seconds, _ = await ev.run_batch(fn, args.events, 1)
                prof.disable()
                buf = io.StringIO()
                stats = pstats.Stats(prof, stream=buf)
                stats.sort_stats(args.sort).print_stats(args.top)
                print(buf.getvalue())
            print(f"{args.command} on {args.db}: {args.events} events in {seconds:.2f} s under the profiler")
            t0 = time.perf_counter()
            await ev.run_batch(fn, args.events, 1)
            print(f"without the profiler: {args.events / (time.perf_counter() - t0):.0f} ev/s")
        finally:
            await app.close()
            if args.db == "postgres":
                await ev.reset_pg_schema(url)


def main() -> int:
    p = argparse.ArgumentParser(description="Profile one command of bench/events.py (sequential).")
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--command", default="/catalog", help="/start, /catalog, /next, 'floor: empty msg', ...")
    p.add_argument("--events", type=int, default=3000)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--pg-url", default=ev.DEFAULT_PG_URL)
    p.add_argument("--pyinstrument", action="store_true", help="use pyinstrument instead of cProfile")
    p.add_argument("--sort", default="cumulative", help="cProfile sort key (default cumulative)")
    p.add_argument("--top", type=int, default=45)
    args = p.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="aiosqlite")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
