"""The paid-community sweep: expiry reminders, then removal after the grace period.

Run by the scheduler every 30 minutes under a key-value lock. It recomputes
everything from stored state (who is a member, which entitlements they hold,
which reminder was last sent), so a restart or a missed run loses nothing:
the next run catches up. Each member is handled in a unit of work of their
own, so one failure (the messenger refusing a removal, a bug) costs only that
member, and every notice goes out after its transaction committed.

Dry run (``COMMUNITY_DRY_RUN``): nobody is removed and nobody is told they
were; reminders still go out, because they are true either way. The report
(and the admins' message) lists who *would* be removed, so an operator can
check the rules against a real group before switching removal on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.community import ExpiryAction, Membership, MemberStatus, decide_expiry, membership
from core.errors import GatewayError
from core.i18n import Translator, translator
from core.ports import CommunityGateway, Notifier, UnitOfWork, UnitOfWorkFactory
from core.replies import Reply, TextReply
from core.users import Ref, Role, User

__all__ = ["REPORT_LINES", "SweepEntry", "SweepReport", "sweep_communities"]

log = logging.getLogger(__name__)

#: Members listed by name in the admins' report (the rest are counted).
REPORT_LINES = 20


@dataclass(frozen=True, slots=True)
class SweepEntry:
    user_id: int
    chat_id: str
    name: str  # display name (or the REF), for the admins' report
    ref: str
    detail: str = ""  # why a removal failed; which reminder went out ("3", "1")


@dataclass(slots=True)
class SweepReport:
    reminded: list[SweepEntry] = field(default_factory=list)
    removed: list[SweepEntry] = field(default_factory=list)
    would_remove: list[SweepEntry] = field(default_factory=list)  # dry run
    failed: list[SweepEntry] = field(default_factory=list)  # removal refused by the messenger, or a bug
    reset: int = 0  # members whose reminders were forgotten after a renewal

    @property
    def count(self) -> int:
        """How many members something happened to (the scheduler logs it)."""
        return len(self.reminded) + len(self.removed) + len(self.would_remove) + len(self.failed)

    def merge(self, part: SweepReport) -> None:
        self.reminded += part.reminded
        self.removed += part.removed
        self.would_remove += part.would_remove
        self.failed += part.failed
        self.reset += part.reset


@dataclass(slots=True)
class _Step:
    """What handling one member did: whether there is anything to commit, what to send and report afterwards."""

    write: bool = False
    notices: list[tuple[int, list[Reply]]] = field(default_factory=list)
    report: SweepReport = field(default_factory=SweepReport)  # merged into the run's report once committed


async def sweep_communities(
    uow_factory: UnitOfWorkFactory,
    gateway: CommunityGateway,
    notifier: Notifier | None,
    now: datetime,
    *,
    grace: timedelta,
    dry_run: bool,
) -> SweepReport:
    """Remind members whose membership is running out and remove those past the grace period.

    Walks everyone recorded as a member of any community. See :func:`core.community.decide_expiry`
    for the rules. ``notifier`` None: nothing can be sent (logged), everything else still happens.
    """
    async with uow_factory() as uow:
        members = await uow.community.members()
    report = SweepReport()
    for member in members:
        try:
            async with uow_factory() as uow:
                step = await _sweep_one(uow, gateway, member.user_id, member.chat_id, now, grace, dry_run)
                if step.write:
                    await uow.commit()
        except Exception as exc:
            log.exception("community sweep: member %s of chat %s failed", member.user_id, member.chat_id)
            name = str(member.user_id)
            report.failed.append(SweepEntry(member.user_id, member.chat_id, name, "", type(exc).__name__))
            continue
        report.merge(step.report)
        for user_id, replies in step.notices:
            await _send(notifier, user_id, replies)
    if report.removed or report.would_remove or report.failed:
        await _tell_admins(uow_factory, notifier, report, dry_run)
    return report


async def _sweep_one(
    uow: UnitOfWork,
    gateway: CommunityGateway,
    user_id: int,
    chat_id: str,
    now: datetime,
    grace: timedelta,
    dry_run: bool,
) -> _Step:
    """Handle one member in ``uow`` (the caller commits when ``write``, then sends the notices).

    A gateway refusal is reported as failed and nothing is written, so the next run tries again.
    """
    step = _Step()
    report = step.report
    member = await uow.community.get(user_id, chat_id)  # re-read: they may have left since the listing
    user = await uow.users.get(user_id)
    if member is None or member.status is not MemberStatus.MEMBER or user is None:
        return step
    if user.has_role(Role.CREATOR):
        return step  # staff run the community; they need no plan (and Telegram won't ban chat admins)
    held = await membership(uow, user_id, chat_id)
    end = held.ends_at if held else None
    decision = decide_expiry(now=now, end=end, reminded_days=member.reminded_days, grace=grace)
    t = translator(user.lang)
    ref = await _ref(uow, user_id, gateway.channel)
    entry = SweepEntry(user_id, chat_id, user.display_name or str(ref or user_id), str(ref or ""))
    if decision.reset:
        await uow.community.set_reminded(member.id, None)
        report.reset += 1
        step.write = True
    if decision.action is ExpiryAction.REMIND and held is not None and decision.days is not None:
        await uow.community.set_reminded(member.id, decision.days)
        when = t.when(held.ends_at, user.timezone)
        step.write = True
        step.notices.append((user_id, [TextReply(t("community.reminder", title=held.plan.title, when=when))]))
        report.reminded.append(_with(entry, str(decision.days)))
    elif decision.action is ExpiryAction.REMOVE:
        if dry_run:
            log.info("community sweep (dry run): would remove user %s from chat %s", user_id, chat_id)
            report.would_remove.append(entry)
            return step
        if ref is None:
            log.warning("community sweep: user %s has no %s identity to remove", user_id, gateway.channel)
            return _Step(report=SweepReport(failed=[_with(entry, f"no {gateway.channel} identity")]))
        try:
            await gateway.remove(chat_id, ref)  # before the commit: a refusal leaves them recorded as a member
        except GatewayError as exc:
            log.error("community sweep: removing user %s from chat %s failed: %s", user_id, chat_id, exc.reason)
            return _Step(report=SweepReport(failed=[_with(entry, exc.reason[:200])]))
        await uow.community.record(user_id, chat_id, MemberStatus.REMOVED, now)
        log.info("community sweep: removed user %s from chat %s", user_id, chat_id)
        report.removed.append(entry)
        step.write = True
        step.notices.append((user_id, [TextReply(await _removed_text(uow, t, chat_id, held))]))
    return step


def _with(entry: SweepEntry, detail: str) -> SweepEntry:
    return SweepEntry(entry.user_id, entry.chat_id, entry.name, entry.ref, detail)


async def _ref(uow: UnitOfWork, user_id: int, channel: str) -> Ref | None:
    refs = [r for r in await uow.users.refs(user_id) if r.channel == channel]
    return refs[0] if refs else None


async def _removed_text(uow: UnitOfWork, t: Translator, chat_id: str, held: Membership | None) -> str:
    if held is not None:
        return t("community.removed", title=held.plan.title)
    # Never entitled (or refunded): name a plan that opens the chat, if any does.
    plans = [p for p in await uow.catalog.list_plans(published_only=False) if p.community_chat == chat_id]
    if plans:
        return t("community.removed", title=plans[0].title)
    return t("community.removed_no_plan")


async def _send(notifier: Notifier | None, user_id: int, replies: list[Reply]) -> None:
    """After the commit: a failed notice is logged and never undoes what was committed."""
    if not replies:
        return
    if notifier is None:
        log.warning("no notifier configured: a community notice to user %s was dropped", user_id)
        return
    try:
        if not await notifier.notify(user_id, replies, important="reminder"):
            log.info("community notice to user %s could not be delivered", user_id)
    except Exception:
        log.exception("community notice to user %s failed", user_id)


async def _tell_admins(
    uow_factory: UnitOfWorkFactory, notifier: Notifier | None, report: SweepReport, dry_run: bool
) -> None:
    async with uow_factory() as uow:
        admins = await uow.users.with_role(Role.ADMIN)
    for admin in admins:
        await _send(notifier, admin.id, [TextReply(_report_text(admin, report, dry_run))])


def _report_text(admin: User, report: SweepReport, dry_run: bool) -> str:
    t = translator(admin.lang)
    if dry_run:
        head = t("community.report_dry_run", count=len(report.would_remove))
        listed = report.would_remove
    else:
        head = t("community.report", removed=len(report.removed), failed=len(report.failed))
        listed = report.removed
    lines = [t("community.report_line", name=e.name, ref=e.ref, chat=e.chat_id) for e in listed]
    lines += [
        t("community.report_failed_line", name=e.name, ref=e.ref, chat=e.chat_id, reason=e.detail)
        for e in report.failed
    ]
    shown = lines[:REPORT_LINES]
    if len(lines) > len(shown):
        shown.append(t("community.report_more", count=len(lines) - len(shown)))
    return "\n".join([head, *shown])
