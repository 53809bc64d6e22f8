"""Fire-and-forget work an adapter starts after answering a request, kept track of so nothing is lost.

asyncio keeps only weak references to tasks: a task nobody holds can be
garbage-collected mid-flight. :class:`BackgroundTasks` holds them until they
finish, logs a failure (which would otherwise surface only as "Task exception
was never retrieved"), and lets shutdown and tests wait for all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

__all__ = ["BackgroundTasks"]


class BackgroundTasks:
    def __init__(self, what: str, logger: logging.Logger) -> None:
        self.what = what  # for the log line: "sending to a WeChat user"
        self.log = logger
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("%s failed", self.what, exc_info=task.exception())

    async def drain(self) -> None:
        """Wait until every task (and any task they started meanwhile) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
