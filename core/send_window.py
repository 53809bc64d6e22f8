"""Send windows: when a channel lets the bot speak first, and what to do when it doesn't.

Some messengers only let a bot message a user shortly after the user wrote
(WeChat's customer-service window: 48 hours, at most 5 messages per user
message). Those limits are declared in :class:`core.channel.Capabilities`
and decided here, once, for every sender: the WeChat adapter today, the
delivery engine tomorrow.

The rule: inside the window and within the quota a message goes out *now*.
Otherwise an *important* notice (a payment went through, a membership is
about to lapse) goes out as a template notice, the one kind of message the
messenger always delivers; and everything, important or not, is *deferred*
— kept, never lost — and delivered in order when the user writes again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.channel import Capabilities

__all__ = ["Route", "WindowState", "route", "sendable"]


class Route(StrEnum):
    NOW = "now"  # inside the window, within the quota
    TEMPLATE = "template"  # window closed, but the notice is important: a template notice now, the rest deferred
    DEFER = "defer"  # window closed: wait until the user writes again


@dataclass(frozen=True, slots=True)
class WindowState:
    """What the channel knows about one conversation: the user's last message and what we sent since."""

    last_inbound_at: datetime | None = None
    sent_since_inbound: int = 0

    def inbound(self, at: datetime) -> WindowState:
        """The user wrote: the window reopens and the quota starts again."""
        return WindowState(at, 0)

    def sent(self, count: int = 1) -> WindowState:
        return WindowState(self.last_inbound_at, self.sent_since_inbound + count)


def sendable(caps: Capabilities, state: WindowState, now: datetime) -> int | None:
    """How many messages may go out now: None for "no limit", 0 when the window is closed."""
    if caps.send_window is None:
        return None
    if state.last_inbound_at is None or now - state.last_inbound_at >= caps.send_window:
        return 0
    if caps.quota_per_inbound is None:
        return None
    return max(0, caps.quota_per_inbound - state.sent_since_inbound)


def route(caps: Capabilities, state: WindowState, now: datetime, *, important: bool) -> Route:
    """Where a proactive message to this user goes, given the channel's window and quota."""
    left = sendable(caps, state, now)
    if left is None or left > 0:
        return Route.NOW
    return Route.TEMPLATE if important else Route.DEFER
