"""The one aiohttp application: health and readiness now, channel webhooks later.

``GET /healthz`` answers 200 while the process is alive. ``GET /readyz``
answers 200 only when the database is reachable, its migrations are at the
code's head revision, and Redis (when configured) answers; otherwise 503
with the failing checks, so a load balancer stops routing to this process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

__all__ = ["ReadinessProbe", "build_web_app"]

Check = Callable[[], Awaitable[tuple[bool, str]]]
MAX_BODY = 1024 * 1024  # webhooks are small; refuse anything bigger than 1 MiB


@dataclass(frozen=True)
class ReadinessProbe:
    checks: dict[str, Check]

    async def run(self) -> tuple[bool, dict[str, dict[str, object]]]:
        results: dict[str, dict[str, object]] = {}
        for name, check in self.checks.items():
            try:
                ok, detail = await check()
            except Exception as exc:  # a probe must answer, whatever breaks
                ok, detail = False, type(exc).__name__
            results[name] = {"ok": ok, "detail": detail}
        return all(r["ok"] for r in results.values()), results


def build_web_app(probe: ReadinessProbe, routes: Sequence[web.RouteDef] = ()) -> web.Application:
    """/healthz, /readyz and the channels' webhook ``routes`` (e.g. POST /telegram/webhook)."""
    app = web.Application(client_max_size=MAX_BODY)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok, results = await probe.run()
        return web.json_response(
            {"status": "ready" if ok else "unavailable", "checks": results}, status=200 if ok else 503
        )

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_routes(routes)
    return app
