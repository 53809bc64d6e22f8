"""The Stars reconciliation job over real storage and a fake ledger: each kind of difference is
found, logged and reported to admins in their language; clean books stay quiet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from service_fakes import Installed, install, write_club_catalog

import bot
from bots.console import CAPABILITIES
from core.clock import FrozenClock
from core.events import Message, PaymentRefunded, PaymentSucceeded, Sender
from core.money import Money
from core.purchasing import refund_order
from core.reconciliation import LedgerEntry, MismatchKind
from core.replies import InvoiceReply
from core.users import Ref, User
from jobs.reconcile import LEDGER_SLACK, MAX_LISTED, PROVIDER, reconcile_stars

WINDOW = timedelta(hours=24)
BUYER = Sender(Ref("console", "kim"), "en", "Kim")
ADMIN = Sender(Ref("console", "boss"), "zh", "Boss")  # reads Chinese


@dataclass
class FakeLedger:
    """The provider's side of the books, as a list the test writes."""

    items: list[LedgerEntry] = field(default_factory=list)
    asked: list[datetime] = field(default_factory=list)

    async def entries(self, since: datetime) -> list[LedgerEntry]:
        self.asked.append(since)
        return [e for e in self.items if e.at >= since]

    def paid(self, charge: str, at: datetime, payload: str = "", amount: int = 100) -> None:
        self.items.append(LedgerEntry(charge, "kim", Money(amount, "XTR"), payload, at, refund=False))

    def refunded(self, charge: str, at: datetime, amount: int = 100) -> None:
        self.items.append(LedgerEntry(charge, "kim", Money(amount, "XTR"), "", at, refund=True))


@pytest.fixture
async def club(app: bot.App, tmp_path: Path) -> bot.App:
    await bot.import_path(app, write_club_catalog(tmp_path / "catalog"))
    await app.dispatcher.dispatch(Message(ADMIN, "/help"), CAPABILITIES)
    await bot.grant(app, str(ADMIN.ref), "admin")
    return app


@pytest.fixture
def fakes(club: bot.App) -> Installed:
    return install(club, subscriptions=frozenset(), provider=PROVIDER)


async def buy(app: bot.App, fakes: Installed, charge: str, *, amount: int | None = None) -> InvoiceReply:
    replies = await app.dispatcher.dispatch(Message(BUYER, "/buy club-notes"), fakes.caps)
    inv = next(r for r in replies if isinstance(r, InvoiceReply))
    total = inv.price if amount is None else Money(amount, "XTR")
    await app.dispatcher.dispatch(PaymentSucceeded(BUYER, PROVIDER, charge, inv.order_code, total), fakes.caps)
    return inv


async def admin(app: bot.App) -> User:
    async with app.uow() as uow:
        found = await uow.users.get_by_ref(ADMIN.ref)
    assert found is not None
    return found


async def run(app: bot.App, fakes: Installed, ledger: FakeLedger, clock: FrozenClock) -> list[tuple[str, str]]:
    found = await reconcile_stars(app.uow, ledger, fakes.notifier, clock.now(), window=WINDOW)
    return [(m.kind.value, m.charge_id) for m in found]


async def test_books_that_agree_stay_quiet(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    ledger = FakeLedger()
    inv = await buy(club, fakes, "ch1")
    ledger.paid("ch1", clock.now(), inv.order_code)
    clock.advance(timedelta(hours=1))
    assert await run(club, fakes, ledger, clock) == []
    assert ledger.asked == [clock.now() - WINDOW - LEDGER_SLACK]
    assert fakes.notifier.to((await admin(club)).id) == []


async def test_a_lost_payment_is_reported_to_admins(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    ledger = FakeLedger()
    ledger.paid("ch-lost", clock.now(), "ordercodelost")
    clock.advance(timedelta(hours=1))
    assert await run(club, fakes, ledger, clock) == [("missing_locally", "ch-lost")]
    (report,) = fakes.notifier.to((await admin(club)).id)
    assert report.startswith("🧾 Telegram Stars 对账")
    assert "Telegram 已收款，本地没有记录" in report and "ch-lost" in report and "ordercodelost" in report


async def test_a_charge_telegram_does_not_list(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    inv = await buy(club, fakes, "ch1")
    clock.advance(timedelta(hours=1))
    found = await reconcile_stars(club.uow, FakeLedger(), fakes.notifier, clock.now(), window=WINDOW)
    assert [(m.kind, m.charge_id, m.order_code) for m in found] == [
        (MismatchKind.MISSING_AT_PROVIDER, "ch1", inv.order_code)
    ]


async def test_amounts_that_differ(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    ledger = FakeLedger()
    inv = await buy(club, fakes, "ch1")
    ledger.paid("ch1", clock.now(), inv.order_code, amount=90)
    clock.advance(timedelta(hours=1))
    assert await run(club, fakes, ledger, clock) == [("amount", "ch1")]


async def test_refunded_at_telegram_while_still_paid_here(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    ledger = FakeLedger()
    inv = await buy(club, fakes, "ch1")
    ledger.paid("ch1", clock.now(), inv.order_code)
    ledger.refunded("ch1", clock.now() + timedelta(minutes=10))  # the refunded_payment update was lost
    clock.advance(timedelta(hours=1))
    assert await run(club, fakes, ledger, clock) == [("refunded_at_provider", "ch1")]


async def test_a_refund_at_telegram_of_an_older_payment(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    """Paid long before the period, refunded inside it: the order is loaded through the charge."""
    ledger = FakeLedger()
    inv = await buy(club, fakes, "ch1")
    ledger.paid("ch1", clock.now(), inv.order_code)
    clock.advance(timedelta(days=5))
    ledger.refunded("ch1", clock.now())
    clock.advance(timedelta(hours=1))
    assert await run(club, fakes, ledger, clock) == [("refunded_at_provider", "ch1")]


async def test_an_order_we_refunded_but_telegram_did_not(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    ledger = FakeLedger()
    inv = await buy(club, fakes, "ch1")
    ledger.paid("ch1", clock.now(), inv.order_code)
    async with club.uow() as uow:  # our records say refunded; the money never went back
        await refund_order(uow, inv.order_code, clock.now(), reason="test")
        await uow.commit()
    clock.advance(timedelta(hours=1))
    assert await run(club, fakes, ledger, clock) == [("not_refunded_at_provider", "ch1")]
    ledger.refunded("ch1", clock.now())
    fakes.notifier.sent.clear()
    assert await run(club, fakes, ledger, clock) == []
    assert fakes.notifier.sent == []


async def test_the_providers_refund_notice_keeps_the_books_straight(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    ledger = FakeLedger()
    inv = await buy(club, fakes, "ch1")
    ledger.paid("ch1", clock.now(), inv.order_code)
    ledger.refunded("ch1", clock.now())
    await club.dispatcher.dispatch(PaymentRefunded(BUYER, PROVIDER, "ch1", inv.order_code, inv.price), fakes.caps)
    clock.advance(timedelta(hours=1))
    assert await run(club, fakes, ledger, clock) == []


async def test_a_charge_that_should_have_gone_back(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    ledger = FakeLedger()
    inv = await buy(club, fakes, "ch1")
    ledger.paid("ch1", clock.now(), inv.order_code)
    fakes.payments.refuse = "network down"  # the automatic refund of the second charge fails
    await club.dispatcher.dispatch(PaymentSucceeded(BUYER, PROVIDER, "ch2", inv.order_code, inv.price), fakes.caps)
    ledger.paid("ch2", clock.now(), inv.order_code)
    clock.advance(timedelta(hours=1))
    assert await run(club, fakes, ledger, clock) == [("refund_owed", "ch2")]


async def test_the_admins_report_lists_at_most_twenty(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    ledger = FakeLedger()
    for i in range(MAX_LISTED + 5):
        ledger.paid(f"ch-lost-{i:02d}", clock.now(), f"payload{i}")
    clock.advance(timedelta(hours=1))
    assert len(await run(club, fakes, ledger, clock)) == MAX_LISTED + 5
    (report,) = fakes.notifier.to((await admin(club)).id)
    assert report.count("\n• ") == MAX_LISTED
    assert report.endswith("……另有 5 处（详见日志）。")


async def test_charges_outside_the_window_are_not_compared(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    await buy(club, fakes, "ch-old")  # never listed, but long before the window
    clock.advance(timedelta(days=3))
    assert await run(club, fakes, FakeLedger(), clock) == []
