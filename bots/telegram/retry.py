"""Calling the Bot API without letting transient failures reach the user.

* 429 (``RetryAfter``): wait as long as Telegram says (capped), then retry;
  with ``retry_flood=False`` (the bulk lane, which reports the flood and lets
  the delivery engine reschedule) it is raised at once.
* network errors, timeouts and 5xx (PTB raises ``NetworkError``): retry with
  exponential backoff.
* 400 (``BadRequest``) and 403 (``Forbidden``) are answers, not glitches:
  they are raised at once for the caller to handle.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

__all__ = ["MAX_RETRY_AFTER", "call", "retry_after_seconds"]

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_RETRY_AFTER = 60.0  # a longer flood wait is not worth holding an update for


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def retry_after_seconds(exc: RetryAfter) -> float:
    """How long Telegram asked to wait, in seconds (an int today, a timedelta in a future PTB)."""
    with warnings.catch_warnings():  # PTB 22 warns that retry_after will become a timedelta
        warnings.simplefilter("ignore")
        return _seconds(exc.retry_after)


async def call(
    fn: Callable[[], Awaitable[T]], *, what: str, attempts: int = 4, backoff: float = 0.25, retry_flood: bool = True
) -> T:
    """Run ``fn`` (one API call), retrying 429s (unless ``retry_flood`` is False) and network failures;
    the last failure is raised."""
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except (BadRequest, Forbidden):
            raise
        except RetryAfter as exc:
            if not retry_flood:
                raise
            wait = retry_after_seconds(exc)
            if attempt == attempts or wait > MAX_RETRY_AFTER:
                raise
            log.warning("%s: flood control, retrying in %.1f s", what, wait)
            await asyncio.sleep(wait)
        except NetworkError as exc:
            if attempt == attempts:
                raise
            log.warning("%s: %s; retry %d in %.2f s", what, exc.message, attempt, delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
