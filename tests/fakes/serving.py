"""Serving a fake's aiohttp app on a free 127.0.0.1 port (the WeChat fakes share it)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["serve_local"]


async def serve_local(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start ``app`` on 127.0.0.1 on a port the OS picks; the runner (to clean up) and the port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])
