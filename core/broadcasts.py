"""Creator broadcasts: compose, count, start, steer and measure one message to many.

The life of a broadcast: :func:`draft` checks the message (Markdown text, or a
photo with a Markdown caption, and its buttons: :func:`message`) and the audience, asks
the core's audience rules who may be reached (:mod:`core.audiences`), counts
them per messenger and records a DRAFT campaign. :func:`start` writes one
delivery row per recipient (key ``b:<campaign>:<user>``, so starting twice
never doubles a row), a batch per transaction, and only then marks the
campaign RUNNING: the delivery engine (``jobs/delivery.py``) never sees a
half-written campaign, so it cannot mistake "every row so far is sent" for
"done". :func:`pause`, :func:`resume` and :func:`cancel` change what the
engine may claim; :func:`status` reports progress and an ETA.

Every operation is permission-checked here, not in a handler: a campaign is
managed by its creator or by an admin. Buttons in a broadcast are tracked:
:func:`tracked_replies` (what the engine sends) points every action button
at ``bc:<campaign>.<n>``, and the ``bc`` handler records the click and then
runs the button's original action (:func:`click_target`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core import audiences
from core.catalog import Course, MediaKind, Plan
from core.delivery import Campaign, CampaignKind, CampaignStatus, DeliveryStatus, NewDelivery
from core.errors import NotFound, PermissionDenied, UserFacingError
from core.events import Photo
from core.replies import Button, InvoiceReply, MediaReply, Reply, TextReply
from core.users import Ref, Role, User

if TYPE_CHECKING:
    from core.ports import UnitOfWork, UnitOfWorkFactory

__all__ = [
    "BATCH",
    "MAX_BUTTONS",
    "MAX_TEXT",
    "STARS_PER_MESSAGE",
    "TRACK_ACTION",
    "Draft",
    "MuteSettings",
    "Progress",
    "cancel",
    "check_sender",
    "click_target",
    "delivery_key",
    "discard",
    "draft",
    "may_manage",
    "message",
    "mute_settings",
    "pause",
    "progress_of",
    "queue",
    "recent",
    "record_click",
    "resume",
    "set_creator_mute",
    "set_mute",
    "stars_estimate",
    "start",
    "start_in",
    "start_queued",
    "status",
    "targets",
    "tracked_replies",
]

MAX_TEXT = 4000  # Telegram's limit is 4096 after entities; keep a margin
MAX_BUTTONS = 12
BATCH = 1000  # delivery rows written per transaction
TRACK_ACTION = "bc"  # bc:<campaign id>.<n>: the n-th action button of a broadcast was pressed
STARS_PER_MESSAGE = 0.1  # what Telegram charges per message above 30/s with allow_paid_broadcast


def delivery_key(campaign_id: int, user_id: int) -> str:
    """The delivery row's unique key: one message per campaign and recipient, however often it starts."""
    return f"b:{campaign_id}:{user_id}"


def stars_estimate(telegram_recipients: int) -> int:
    """The most a paid broadcast can cost in Stars ("about N Stars"): every Telegram message paid."""
    return math.ceil(round(STARS_PER_MESSAGE * max(telegram_recipients, 0), 6))


@dataclass(frozen=True, slots=True)
class Draft:
    campaign: Campaign
    audience: int  # how many people it reaches now
    per_channel: dict[str, int]  # of which on each messenger ("telegram", "wechat", "console")
    stars: int | None  # the Stars estimate when paid broadcasting is on, else None


@dataclass(frozen=True, slots=True)
class Progress:
    campaign: Campaign
    sent: int
    failed: int
    blocked: int
    deferred: int  # handed to a channel's outbox until its send window opens (WeChat)
    skipped: int
    cancelled: int
    remaining: int  # rows still pending
    clicks: int  # recipients who pressed at least one button
    eta: timedelta | None  # remaining / the rate since start; None when unknown, paused or done

    @property
    def total(self) -> int:
        return self.sent + self.failed + self.blocked + self.deferred + self.skipped + self.cancelled + self.remaining

    @property
    def started_at(self) -> datetime | None:
        return self.campaign.started_at

    @property
    def finished_at(self) -> datetime | None:
        return self.campaign.finished_at


# ------------------------------------------------------------------------------------ composing


def check_sender(actor: User) -> None:
    """Only creators and admins broadcast."""
    if not actor.has_role(Role.CREATOR):
        raise PermissionDenied("broadcast.not_allowed")


async def targets(uow: UnitOfWork, actor: User) -> tuple[list[Course], list[Plan]]:
    """The courses and plans ``actor`` may name in an audience: every one for admins, their own for creators."""
    check_sender(actor)
    courses = await uow.catalog.list_courses(published_only=False)
    plans = await uow.catalog.list_plans(published_only=False)
    if actor.has_role(Role.ADMIN):
        return courses, plans
    refs = {str(r) for r in await uow.users.refs(actor.id)}
    return [c for c in courses if c.creator in refs], [p for p in plans if p.creator in refs]


def _check_buttons(rows: Sequence[Sequence[Button]]) -> tuple[tuple[Button, ...], ...]:
    out = tuple(tuple(row) for row in rows if row)
    if sum(len(row) for row in out) > MAX_BUTTONS:
        raise UserFacingError("broadcast.too_many_buttons", max=MAX_BUTTONS)
    for row in out:
        for b in row:
            ok_link = b.is_link and b.url.startswith("https://") and not b.action
            ok_action = not b.is_link and b.action.isascii() and 0 < len(b.action) <= 60
            if not b.label.strip() or not (ok_link or ok_action) or b.action.startswith(TRACK_ACTION + ":"):
                raise UserFacingError("broadcast.bad_button", label=b.label[:40])
    return out


def message(
    text: str, buttons: Sequence[Sequence[Button]] = (), *, photo: Photo | None = None
) -> TextReply | MediaReply:
    """The broadcast exactly as recipients get it, or why it can't be sent.

    Text: Markdown with its buttons. With a photo: the photo, the text as its (Markdown) caption, and
    the buttons on the photo (a photo alone is fine; adapters send a caption too long for their
    messenger as a message right after the photo, with the buttons).
    """
    body = text.strip()
    if not body and photo is None:
        raise UserFacingError("broadcast.empty")
    if len(body) > MAX_TEXT:
        raise UserFacingError("broadcast.too_long", limit=MAX_TEXT)
    rows = _check_buttons(buttons)
    if photo is not None:
        return MediaReply(MediaKind.PHOTO, photo.path, photo.sha256, caption=body, buttons=rows, markdown=True)
    return TextReply(body, rows, markdown=True)


async def draft(
    uow: UnitOfWork,
    actor: User,
    text: str,
    spec: str,
    channel: str | None,
    paid: bool,
    now: datetime,
    *,
    buttons: Sequence[Sequence[Button]] = (),
    photo: Photo | None = None,
) -> Draft:
    """Check, authorize and count; record a DRAFT campaign holding the message as it will be sent."""
    reply = message(text, buttons, photo=photo)
    audience = audiences.parse(spec)
    chan = audiences.parse_channel(channel)
    if paid and chan not in (None, "telegram"):
        raise UserFacingError("broadcast.paid_telegram_only")
    scope = await audiences.resolve(uow, actor, audience)
    per_channel = await uow.audiences.count_by_channel(audience, chan, scope, now)
    campaign = await uow.deliveries.create_campaign(
        kind=CampaignKind.BROADCAST,
        creator_id=actor.id,
        audience=str(audience),
        channel=chan,
        replies=[reply],
        paid=paid,
        now=now,
    )
    stars = stars_estimate(per_channel.get("telegram", 0)) if paid else None
    return Draft(campaign, sum(per_channel.values()), per_channel, stars)


# ------------------------------------------------------------------------------------ steering


def may_manage(actor: User, campaign: Campaign) -> bool:
    """A campaign is steered by the creator who made it (while still a creator) or by an admin."""
    if actor.has_role(Role.ADMIN):
        return True
    return actor.has_role(Role.CREATOR) and campaign.creator_id == actor.id


async def _managed(uow: UnitOfWork, campaign_id: int, actor: User) -> Campaign:
    check_sender(actor)
    campaign = await uow.deliveries.get_campaign(campaign_id)
    if campaign is None or campaign.kind is not CampaignKind.BROADCAST:
        raise NotFound("broadcast.not_found", id=campaign_id)
    if not may_manage(actor, campaign):
        # Someone else's campaign looks exactly like a missing one: ids are not an oracle.
        raise NotFound("broadcast.not_found", id=campaign_id)
    return campaign


async def start_in(uow: UnitOfWork, campaign_id: int, actor: User, now: datetime, *, batch: int = BATCH) -> int:
    """:func:`start` on an open unit of work, **committing after every batch** (and at the end).

    For callers that own a unit of work and may wait while every row is written (the CLI, tests); a
    chat handler calls :func:`queue` instead. Rows are written while the campaign is still a DRAFT,
    so no worker claims them yet; a crash part-way leaves a DRAFT that starting again completes
    (existing keys are skipped). The campaign turns RUNNING, with its total, in the last
    transaction; an audience of nobody ends at once as DONE.
    """
    campaign = await _managed(uow, campaign_id, actor)
    if campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.DONE):
        return campaign.total  # started already: starting again changes nothing
    if campaign.status is CampaignStatus.CANCELLED:
        raise UserFacingError("broadcast.is_cancelled", id=campaign_id)
    # The reach is the campaign creator's (an admin starting a creator's draft sends as that creator).
    sender = actor if campaign.creator_id == actor.id else await uow.users.get(campaign.creator_id or 0)
    if sender is None:
        raise NotFound("broadcast.not_found", id=campaign_id)
    total = await _materialize(uow, campaign, sender, now, batch=batch)
    if total is None:
        raise UserFacingError("broadcast.is_cancelled", id=campaign_id)
    return total


async def queue(uow: UnitOfWork, campaign_id: int, actor: User, now: datetime) -> Campaign:
    """Confirm a draft and hand it to the workers, who write its rows (:func:`start_queued`) and send.

    Returns at once, whatever the audience's size: a chat handler must answer within seconds (WeChat
    gives up after 5), and writing a million rows takes half a minute. Permission is checked here;
    the worker starts it with the creator's reach as it is then. Queuing twice changes nothing.
    """
    campaign = await _managed(uow, campaign_id, actor)
    if campaign.status is CampaignStatus.CANCELLED:
        raise UserFacingError("broadcast.is_cancelled", id=campaign_id)
    if campaign.status is not CampaignStatus.DRAFT:
        return campaign
    await uow.deliveries.set_campaign(campaign_id, status=CampaignStatus.STARTING, started_at=now)
    return replace(campaign, status=CampaignStatus.STARTING, started_at=now)


async def start_queued(uow: UnitOfWork, campaign_id: int, now: datetime, *, batch: int = BATCH) -> int | None:
    """The worker's half of :func:`queue`: write a STARTING campaign's rows, then let it run.

    Committing after every batch, like :func:`start_in`; a worker killed part-way leaves it STARTING,
    and the next worker completes it (existing keys are skipped). Returns the total, or None if
    there was nothing to start (not STARTING any more, or cancelled meanwhile). If its creator may
    no longer reach that audience (the role was taken away), the campaign is cancelled.
    """
    campaign = await uow.deliveries.get_campaign(campaign_id)
    if campaign is None or campaign.status is not CampaignStatus.STARTING:
        return None
    sender = await uow.users.get(campaign.creator_id or 0)
    try:
        if sender is None:
            raise PermissionDenied("broadcast.not_allowed")
        check_sender(sender)
        return await _materialize(uow, campaign, sender, now, batch=batch)
    except (PermissionDenied, NotFound):
        await uow.deliveries.set_campaign(campaign_id, status=CampaignStatus.CANCELLED, finished_at=now)
        await uow.deliveries.cancel_pending(campaign_id)
        await uow.commit()
        return None


async def _materialize(uow: UnitOfWork, campaign: Campaign, sender: User, now: datetime, *, batch: int) -> int | None:
    """Write a row per recipient while the campaign keeps its status, then turn it RUNNING (or DONE if empty).

    None if it was cancelled meanwhile (rows written after the cancel are cancelled too). ``started_at`` is
    when sending can begin, so the ETA measures sending, not the writing of the list.
    """
    campaign_id, expected = campaign.id, campaign.status
    audience = audiences.parse(campaign.audience)
    scope = await audiences.resolve(uow, sender, audience, kind=campaign.kind)
    async for rows in uow.audiences.stream(audience, campaign.channel, scope, now, batch=batch):
        current = await uow.deliveries.get_campaign(campaign_id)
        if current is None or current.status is not expected:
            break  # cancelled meanwhile: stop writing
        await uow.deliveries.add(
            [
                NewDelivery(
                    key=delivery_key(campaign_id, uid), ref=ref, user_id=uid, next_at=now, campaign_id=campaign_id
                )
                for uid, ref in rows
            ]
        )
        await uow.commit()
    current = await uow.deliveries.get_campaign(campaign_id)
    if current is None or current.status is CampaignStatus.CANCELLED:
        await uow.deliveries.cancel_pending(campaign_id)  # rows written after the cancel
        await uow.commit()
        return None
    if current.status is not expected:
        return current.total  # a concurrent start finished first
    total = sum((await uow.deliveries.progress(campaign_id)).values())
    if total == 0:
        await uow.deliveries.set_campaign(
            campaign_id, status=CampaignStatus.DONE, total=0, started_at=now, finished_at=now
        )
    else:
        await uow.deliveries.set_campaign(campaign_id, status=CampaignStatus.RUNNING, total=total, started_at=now)
    await uow.commit()
    return total


async def start(
    uow_factory: UnitOfWorkFactory, campaign_id: int, actor: User, now: datetime, *, batch: int = BATCH
) -> int:
    """Write a delivery row per recipient (a transaction per ``batch``), then let the engine send.

    Idempotent: starting a campaign twice, or again after a crash, never doubles a row.
    Returns the campaign's total number of rows.
    """
    async with uow_factory() as uow:
        return await start_in(uow, campaign_id, actor, now, batch=batch)


async def pause(uow: UnitOfWork, campaign_id: int, actor: User, now: datetime) -> Campaign:
    """Stop the engine from claiming more of its rows (those in flight still finish)."""
    campaign = await _managed(uow, campaign_id, actor)
    if campaign.status is CampaignStatus.PAUSED:
        return campaign
    if campaign.status is not CampaignStatus.RUNNING:
        raise UserFacingError("broadcast.cannot_pause", id=campaign_id)
    await uow.deliveries.set_campaign(campaign_id, status=CampaignStatus.PAUSED)
    return replace(campaign, status=CampaignStatus.PAUSED)


async def resume(uow: UnitOfWork, campaign_id: int, actor: User, now: datetime) -> Campaign:
    campaign = await _managed(uow, campaign_id, actor)
    if campaign.status is CampaignStatus.RUNNING:
        return campaign
    if campaign.status is not CampaignStatus.PAUSED:
        raise UserFacingError("broadcast.cannot_resume", id=campaign_id)
    await uow.deliveries.set_campaign(campaign_id, status=CampaignStatus.RUNNING)
    return replace(campaign, status=CampaignStatus.RUNNING)


async def cancel(uow: UnitOfWork, campaign_id: int, actor: User, now: datetime) -> Campaign:
    """Nothing more is sent: pending rows become cancelled (a draft is simply dropped)."""
    campaign = await _managed(uow, campaign_id, actor)
    if campaign.status is CampaignStatus.CANCELLED:
        return campaign
    if campaign.status is CampaignStatus.DONE:
        raise UserFacingError("broadcast.already_done", id=campaign_id)
    await uow.deliveries.set_campaign(campaign_id, status=CampaignStatus.CANCELLED, finished_at=now)
    await uow.deliveries.cancel_pending(campaign_id)
    return replace(campaign, status=CampaignStatus.CANCELLED, finished_at=now)


async def discard(uow: UnitOfWork, campaign_id: int, actor: User, now: datetime) -> bool:
    """Drop a draft that was replaced or abandoned; a campaign that has started is left alone."""
    campaign = await _managed(uow, campaign_id, actor)
    if campaign.status is not CampaignStatus.DRAFT:
        return False
    await cancel(uow, campaign_id, actor, now)
    return True


async def status(uow: UnitOfWork, campaign_id: int, actor: User, now: datetime) -> Progress:
    """Counts per outcome, clicks, and an ETA from the rate since the campaign started."""
    campaign = await _managed(uow, campaign_id, actor)
    return await progress_of(uow, campaign, now)


async def progress_of(uow: UnitOfWork, campaign: Campaign, now: datetime) -> Progress:
    """:func:`status` without the permission check (the engine's final report uses it)."""
    counts = await uow.deliveries.progress(campaign.id)
    clicks = await uow.deliveries.clicks(campaign.id)
    remaining = counts.get(DeliveryStatus.PENDING, 0)
    processed = sum(n for s, n in counts.items() if s is not DeliveryStatus.PENDING)
    eta: timedelta | None = None
    if campaign.status is CampaignStatus.RUNNING and campaign.started_at is not None and remaining and processed:
        elapsed = (now - campaign.started_at).total_seconds()
        if elapsed > 0:
            eta = timedelta(seconds=math.ceil(remaining * elapsed / processed))
    return Progress(
        campaign=campaign,
        sent=counts.get(DeliveryStatus.SENT, 0),
        failed=counts.get(DeliveryStatus.FAILED, 0),
        blocked=counts.get(DeliveryStatus.BLOCKED, 0),
        deferred=counts.get(DeliveryStatus.DEFERRED, 0),
        skipped=counts.get(DeliveryStatus.SKIPPED, 0),
        cancelled=counts.get(DeliveryStatus.CANCELLED, 0),
        remaining=remaining,
        clicks=clicks,
        eta=eta,
    )


async def recent(uow: UnitOfWork, actor: User, *, limit: int = 10) -> list[Campaign]:
    """The actor's own broadcasts, newest first."""
    check_sender(actor)
    found = await uow.deliveries.campaigns(creator_id=actor.id)
    return [c for c in found if c.kind is CampaignKind.BROADCAST][:limit]


# ------------------------------------------------------------------------------------ clicks


def _action_buttons(replies: Sequence[Reply]) -> list[Button]:
    out: list[Button] = []
    for reply in replies:
        if isinstance(reply, TextReply | MediaReply | InvoiceReply):
            out.extend(b for row in reply.buttons for b in row if not b.is_link)
    return out


def tracked_replies(campaign: Campaign) -> tuple[Reply, ...]:
    """The campaign's replies with action button n pressing ``bc:<campaign id>.<n>`` (links stay links).

    Buttons are counted across every reply that has them (a text, a photo, an invoice), in order.
    Pure: the delivery engine calls it for every campaign row it sends.
    """
    n = 0
    out: list[Reply] = []
    for reply in campaign.replies:
        if not isinstance(reply, TextReply | MediaReply | InvoiceReply) or not reply.buttons:
            out.append(reply)
            continue
        rows: list[tuple[Button, ...]] = []
        for row in reply.buttons:
            new_row: list[Button] = []
            for b in row:
                if b.is_link:
                    new_row.append(b)
                else:
                    new_row.append(replace(b, action=f"{TRACK_ACTION}:{campaign.id}.{n}"))
                    n += 1
            rows.append(tuple(new_row))
        out.append(replace(reply, buttons=tuple(rows)))
    return tuple(out)


def click_target(campaign: Campaign, button: int) -> str | None:
    """The original action of the campaign's action button ``button`` (None: no such button)."""
    buttons = _action_buttons(campaign.replies)
    return buttons[button].action if 0 <= button < len(buttons) else None


async def record_click(uow: UnitOfWork, campaign_id: int, user: User, button: int, now: datetime) -> str | None:
    """Count a press of action button ``button`` (once per recipient and button) and return the
    button's original action; None when the campaign or button doesn't exist.

    Only recipients are counted (their delivery row exists), so a forged press inflates nothing.
    """
    campaign = await uow.deliveries.get_campaign(campaign_id)
    target = click_target(campaign, button) if campaign is not None else None
    if target is None:
        return None
    if await uow.deliveries.by_key(delivery_key(campaign_id, user.id)) is not None:
        await uow.deliveries.click(campaign_id, user.id, button, now)
    return target


# ------------------------------------------------------------------------------------ opt-out


async def set_mute(uow: UnitOfWork, user: User, scope: str, muted: bool, now: datetime) -> None:
    """Mute or unmute ``scope`` (:data:`core.audiences.MUTE_BROADCASTS`, a creator, recommendations).

    Audiences leave muted users out when rows are written, so the opt-out holds for every
    campaign started afterwards, on every messenger.
    """
    valid = audiences.parse_mute(scope)
    if valid is None:
        raise UserFacingError("mute.bad_scope")
    if muted:
        await uow.deliveries.mute(user.id, valid, now)
    else:
        await uow.deliveries.unmute(user.id, valid)


async def set_creator_mute(uow: UnitOfWork, user: User, ref_text: str, muted: bool, now: datetime) -> User:
    """Mute or unmute one sender, named by a REF (``/settings mute telegram:123``)."""
    try:
        ref = Ref.parse(ref_text)
    except ValueError:
        raise UserFacingError("mute.bad_ref") from None
    sender = await uow.users.get_by_ref(ref)
    if sender is None or sender.id == user.id:
        raise NotFound("mute.unknown_sender", ref=str(ref))
    await set_mute(uow, user, audiences.creator_mute(sender.id), muted, now)
    return sender


@dataclass(frozen=True, slots=True)
class MuteSettings:
    broadcasts: bool  # every creator's broadcasts muted
    recommendations: bool
    senders: tuple[tuple[User, bool], ...]  # people whose broadcasts reached the user (or who are muted), muted?


async def mute_settings(uow: UnitOfWork, user: User, *, limit: int = 6) -> MuteSettings:
    """What /settings shows: the global switches and the recent senders, each with its mute state."""
    mutes = await uow.deliveries.mutes(user.id)
    ids = list(await uow.audiences.senders(user.id, limit=limit))
    for scope in sorted(mutes):
        if scope.startswith("creator:") and len(ids) < limit * 2:
            sender_id = int(scope.partition(":")[2])
            if sender_id not in ids:
                ids.append(sender_id)
    senders: list[tuple[User, bool]] = []
    for sender_id in ids:
        sender = await uow.users.get(sender_id)
        if sender is not None:
            senders.append((sender, audiences.creator_mute(sender_id) in mutes))
    return MuteSettings(
        broadcasts=audiences.MUTE_BROADCASTS in mutes,
        recommendations=audiences.MUTE_RECOMMENDATIONS in mutes,
        senders=tuple(senders),
    )
