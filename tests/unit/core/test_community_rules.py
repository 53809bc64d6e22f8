"""The expiry rule for paid communities, with frozen times: remind at 3 days and 1 day, remove after grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.community import ExpiryAction, ExpiryDecision, decide_expiry

END = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(hours=24)
KEEP = ExpiryDecision(ExpiryAction.KEEP)


def at(before_end: timedelta) -> datetime:
    return END - before_end


@pytest.mark.parametrize(
    ("now", "reminded", "expected"),
    [
        (at(timedelta(days=10)), None, KEEP),
        (at(timedelta(days=3, seconds=1)), None, KEEP),
        (at(timedelta(days=3)), None, ExpiryDecision(ExpiryAction.REMIND, days=3)),
        (at(timedelta(days=2)), None, ExpiryDecision(ExpiryAction.REMIND, days=3)),
        (at(timedelta(days=2)), 3, KEEP),  # the 3-day reminder goes out once
        (at(timedelta(days=1, seconds=1)), 3, KEEP),
        (at(timedelta(days=1)), 3, ExpiryDecision(ExpiryAction.REMIND, days=1)),
        (at(timedelta(hours=5)), 3, ExpiryDecision(ExpiryAction.REMIND, days=1)),
        (at(timedelta(hours=5)), 1, KEEP),  # the 1-day reminder goes out once
        # the 3-day one was missed (sweep down, short period): only the urgent one goes out
        (at(timedelta(hours=20)), None, ExpiryDecision(ExpiryAction.REMIND, days=1)),
        # after the end, in the grace period: no "ends on <past date>" reminder, not removed yet
        (END, 1, KEEP),
        (END, None, KEEP),
        (END + GRACE - timedelta(seconds=1), 1, KEEP),
        (END + GRACE, 1, ExpiryDecision(ExpiryAction.REMOVE)),
        (END + timedelta(days=40), None, ExpiryDecision(ExpiryAction.REMOVE)),
    ],
)
def test_reminders_and_removal(now: datetime, reminded: int | None, expected: ExpiryDecision) -> None:
    assert decide_expiry(now=now, end=END, reminded_days=reminded, grace=GRACE) == expected


def test_no_entitlement_ever_means_removal() -> None:
    decision = decide_expiry(now=END, end=None, reminded_days=None, grace=GRACE)
    assert decision.action is ExpiryAction.REMOVE


@pytest.mark.parametrize("reminded", [3, 1])
def test_a_renewal_resets_the_reminders(reminded: int) -> None:
    """The end moved more than 3 days away again: forget the reminders so the next period gets its own."""
    decision = decide_expiry(now=at(timedelta(days=29)), end=END, reminded_days=reminded, grace=GRACE)
    assert decision == ExpiryDecision(ExpiryAction.KEEP, reset=True)


def test_zero_grace_removes_at_the_end() -> None:
    assert decide_expiry(now=END, end=END, reminded_days=1, grace=timedelta(0)).action is ExpiryAction.REMOVE
    before = END - timedelta(seconds=1)
    assert decide_expiry(now=before, end=END, reminded_days=1, grace=timedelta(0)).action is ExpiryAction.KEEP


def test_an_endless_membership_never_expires() -> None:
    forever = datetime.max.replace(tzinfo=UTC)
    decision = decide_expiry(now=END, end=forever, reminded_days=None, grace=timedelta(days=30))
    assert decision == KEEP
