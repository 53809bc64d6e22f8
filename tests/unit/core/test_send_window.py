"""The send-window rule shared by every channel with a window (WeChat: 48 hours, 5 per user message)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.channel import Capabilities
from core.send_window import Route, WindowState, route, sendable

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
WECHAT = Capabilities("wechat", send_window=timedelta(hours=48), quota_per_inbound=5)
TELEGRAM = Capabilities("telegram")


def test_no_window_means_no_limit() -> None:
    assert sendable(TELEGRAM, WindowState(), NOW) is None
    assert route(TELEGRAM, WindowState(), NOW, important=False) is Route.NOW


def test_inside_the_window_the_quota_counts_down() -> None:
    state = WindowState().inbound(NOW - timedelta(hours=1))
    assert sendable(WECHAT, state, NOW) == 5
    state = state.sent(4)
    assert sendable(WECHAT, state, NOW) == 1
    state = state.sent()
    assert route(WECHAT, state, NOW, important=False) is Route.DEFER
    assert route(WECHAT, state, NOW, important=True) is Route.TEMPLATE
    assert sendable(WECHAT, state.inbound(NOW), NOW) == 5  # the user wrote again


def test_the_window_closes_after_48_hours_and_never_opened_is_closed() -> None:
    assert sendable(WECHAT, WindowState(), NOW) == 0
    state = WindowState().inbound(NOW - timedelta(hours=48))
    assert route(WECHAT, state, NOW, important=False) is Route.DEFER
    state = WindowState().inbound(NOW - timedelta(hours=47, minutes=59))
    assert route(WECHAT, state, NOW, important=False) is Route.NOW
