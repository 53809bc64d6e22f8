"""Fakes of the providers handlers and jobs call (importable as ``service_fakes``): no mocks.

* :class:`RecordingNotifier`: records proactive messages instead of sending them;
* :class:`FakePaymentGateway`: a payment provider on the console channel that records
  refunds and renewal switches and can be told to refuse (``GatewayError``);
* :class:`FakeCommunityGateway`: a messenger hosting paid groups; records invite links,
  approvals, declines and removals, and can refuse removals of chosen members;
* :func:`install`: registers them on an app's dispatcher, as ``bot.py`` registers real ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import bot
from bots.console import CAPABILITIES
from core.channel import Capabilities
from core.errors import GatewayError
from core.replies import Reply, TextReply
from core.users import Ref

__all__ = [
    "CHAT",
    "PROVIDER",
    "FakeCommunityGateway",
    "FakePaymentGateway",
    "Installed",
    "RecordingNotifier",
    "install",
    "texts",
    "write_club_catalog",
]

PROVIDER = "fakepay"
CHAT = "-1001234567890"


def texts(replies: Sequence[Reply]) -> str:
    """Every text of ``replies``, one per line (what a user would read)."""
    return "\n".join(r.text for r in replies if isinstance(r, TextReply))


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[int, tuple[Reply, ...]]] = []
        self.fail_for: set[int] = set()

    async def notify(self, user_id: int, replies: Sequence[Reply], *, important: str | None = None) -> bool:
        if user_id in self.fail_for:
            raise RuntimeError("messenger down")
        self.sent.append((user_id, tuple(replies)))
        return True

    def to(self, user_id: int) -> list[str]:
        """The texts sent to ``user_id``, in order."""
        return [texts(replies) for uid, replies in self.sent if uid == user_id]


@dataclass
class FakePaymentGateway:
    channel: str = "console"
    refunds: list[tuple[Ref, str]] = field(default_factory=list)
    renewals: list[tuple[Ref, str, bool]] = field(default_factory=list)
    refuse: str | None = None  # when set, every operation fails with this reason

    async def refund(self, ref: Ref, charge_id: str) -> None:
        if self.refuse:
            raise GatewayError(self.refuse)
        self.refunds.append((ref, charge_id))

    async def set_renewal(self, ref: Ref, charge_id: str, *, enabled: bool) -> None:
        if self.refuse:
            raise GatewayError(self.refuse)
        self.renewals.append((ref, charge_id, enabled))


@dataclass
class FakeCommunityGateway:
    channel: str = "console"
    links: list[tuple[str, str, datetime]] = field(default_factory=list)
    approved: list[tuple[str, Ref]] = field(default_factory=list)
    declined: list[tuple[str, Ref]] = field(default_factory=list)
    removed: list[tuple[str, Ref]] = field(default_factory=list)
    refuse_removal_of: set[Ref] = field(default_factory=set)
    refuse_links: str | None = None  # when set, invite links fail with this reason

    async def invite_link(self, chat_id: str, *, name: str, expires_at: datetime) -> str:
        if self.refuse_links:
            raise GatewayError(self.refuse_links)
        self.links.append((chat_id, name, expires_at))
        return f"https://t.me/+fake{len(self.links)}"

    async def approve(self, chat_id: str, ref: Ref) -> None:
        self.approved.append((chat_id, ref))

    async def decline(self, chat_id: str, ref: Ref) -> None:
        self.declined.append((chat_id, ref))

    async def remove(self, chat_id: str, ref: Ref) -> None:
        if ref in self.refuse_removal_of:
            raise GatewayError("CHAT_ADMIN_REQUIRED")
        self.removed.append((chat_id, ref))


@dataclass
class Installed:
    payments: FakePaymentGateway
    community: FakeCommunityGateway
    notifier: RecordingNotifier
    caps: Capabilities


def install(app: bot.App, *, subscriptions: frozenset[int] = frozenset({30}), provider: str = PROVIDER) -> Installed:
    """Register the fakes on ``app``'s dispatcher; the capabilities are the console's with the fake provider."""
    payments, community, notifier = FakePaymentGateway(), FakeCommunityGateway(), RecordingNotifier()
    app.dispatcher.services.gateways[provider] = payments
    app.dispatcher.services.community = community
    app.dispatcher.notifier = notifier
    caps = replace(CAPABILITIES, payment_provider=provider, subscriptions=subscriptions)
    return Installed(payments, community, notifier, caps)


def write_club_catalog(root: Path, *, chat: str = CHAT, period_days: int = 30) -> Path:
    """A one-course catalog whose plan ``club`` opens the community ``chat`` (priced in Stars only)."""
    course = root / "club-notes"
    (course / "lessons").mkdir(parents=True)
    (course / "course.toml").write_text(
        'slug = "club-notes"\ntitle = "Club Notes"\nsummary = "Notes for members."\nlanguage = "en"\n'
        "[price]\nstars = 100\n",
        encoding="utf-8",
    )
    (course / "lessons" / "01-welcome.md").write_text(
        '+++\ntitle = "Welcome"\n+++\n\nHello, members.\n', encoding="utf-8"
    )
    (root / "plans.toml").write_text(
        f'[[plan]]\nslug = "club"\ntitle = "Club Membership"\nperiod_days = {period_days}\n'
        f'includes = ["club-notes"]\ntelegram_chat = "{chat}"\n[plan.price]\nstars = 150\n',
        encoding="utf-8",
    )
    return root
