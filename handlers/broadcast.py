"""Broadcast journey: /broadcast (compose → preview → audience → confirm), its status and steering,
/broadcasts, and the ``bc`` action behind every tracked broadcast button.

The message is composed at the "text" step from whatever the creator sends next: a text (Markdown,
with the messenger's own formatting converted to it), a photo (its caption is the text), or a
forwarded message (its formatted text and/or photo); the preview is the very reply recipients get.

The conversation keeps its state in the key-value store under ``ctx.state_key`` for 30 minutes:
``{"flow": "broadcast", "step": "text" | "audience" | "confirm", "text": …, "photo": {"path", "sha256"}
(with a photo), "forwarded": true (its lines are all text), "channel": …, "paid": …, "choices": [audience
specs behind the menu's buttons], "campaign": the draft's id}``. Buttons carry
only an index into ``choices`` (or a campaign id that the core permission-checks), so a forged
button can't name an audience. Everything else (who may reach whom, counting, starting, pausing)
is :mod:`core.broadcasts`; this module parses and renders.

A broadcast's buttons are written as the message's (or the photo caption's) last lines:
``[Label](target)``, where target is ``https://…`` (a link), ``course:<slug>``, ``buy:<slug>``,
``next:<slug>``, ``plans``, ``catalog``, ``my``, ``menu`` or ``help``. A forwarded message is someone
else's: its lines are never read as buttons (its links stay links in the text).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from core import broadcasts
from core.audiences import parse as parse_audience
from core.broadcasts import TRACK_ACTION, Progress
from core.delivery import Campaign, CampaignStatus
from core.errors import UserFacingError
from core.events import Message, Photo
from core.i18n import Translator
from core.replies import Button, Reply, TextReply
from core.users import CHANNELS, LANGUAGES, Role
from handlers.actions import A, parse_int, parse_slug
from handlers.context import Ctx
from handlers.router import Router

__all__ = ["COMPOSE", "STATE_TTL", "STEER", "report_replies", "router", "split_message", "tracking_router"]

router = Router()

STATE_TTL = 30 * 60.0
FLOW = "broadcast"
COMPOSE = "bq"  # bq:a<n> (audience n) | bq:ch.<channel|any> | bq:paid | bq:ok | bq:back | bq:x
STEER = "bs"  # bs:<s|p|r|c>.<campaign id>: status, pause, resume, cancel
INACTIVE_DAYS = 30
MAX_COURSE_CHOICES = 8
MAX_PLAN_CHOICES = 4

_BUTTON = re.compile(r"\[([^\[\]\n]{1,64})\]\(([^()\s]{1,200})\)")
_BUTTON_LINE = re.compile(r"^\s*(?:\[[^\[\]\n]{1,64}\]\([^()\s]{1,200}\)\s*)+$")
_PLAIN_TARGETS = {"plans": A.PLANS, "catalog": A.of(A.CATALOG, 0), "my": A.MY, "menu": A.MENU, "help": A.HELP}
_SLUG_TARGETS = {"course": A.COURSE, "buy": A.BUY, "next": A.NEXT}
_SUBCOMMAND = re.compile(r"^(status)(?:\s+#?(\d{1,16}))?$|^(pause|resume|cancel|start)\s+#?(\d{1,16})$", re.I)
_STEER = re.compile(r"^([sprc])\.(\d{1,16})$")
_CLICK = re.compile(r"^(\d{1,16})\.(\d{1,3})$")
_ACTION = re.compile(r"^([a-z]{1,8})(?::([A-Za-z0-9_.\-]{0,60}))?$")


# ------------------------------------------------------------------------------------ composing


def _button(label: str, target: str) -> Button:
    label = label.strip()
    if target.startswith("https://"):
        return Button(label, url=target)
    if target in _PLAIN_TARGETS:
        return Button(label, _PLAIN_TARGETS[target])
    kind, _, slug = target.partition(":")
    if kind in _SLUG_TARGETS and parse_slug(slug):
        return Button(label, A.of(_SLUG_TARGETS[kind], slug))
    raise UserFacingError("broadcast.bad_button", label=label[:40])


def split_message(text: str) -> tuple[str, tuple[tuple[Button, ...], ...]]:
    """The Markdown body and the button rows written as its last lines (one row per line)."""
    lines = text.strip().splitlines()
    rows: list[tuple[Button, ...]] = []
    while lines and _BUTTON_LINE.match(lines[-1]):
        rows.insert(0, tuple(_button(label, target) for label, target in _BUTTON.findall(lines.pop())))
    return "\n".join(lines).strip(), tuple(rows)


async def _state(ctx: Ctx) -> dict[str, Any] | None:
    state = await ctx.kv.get_state(ctx.state_key)
    return state if state and state.get("flow") == FLOW else None


async def _save(ctx: Ctx, state: dict[str, Any]) -> None:
    await ctx.kv.set_state(ctx.state_key, {**state, "flow": FLOW}, ttl=STATE_TTL)


def _cancel_row(ctx: Ctx) -> tuple[Button, ...]:
    return (Button(ctx.t("broadcast.btn.discard"), A.of(COMPOSE, "x")),)


def _channel_label(t: Translator, channel: str | None) -> str:
    return t("broadcast.channel." + (channel or "any"))


async def _drop_draft(ctx: Ctx) -> None:
    """Starting over: the draft of the conversation being replaced can never be sent."""
    state = await _state(ctx)
    if state is not None and isinstance(state.get("campaign"), int):
        await broadcasts.discard(ctx.uow, state["campaign"], ctx.user, ctx.now)


def _content(state: dict[str, Any]) -> tuple[str, tuple[tuple[Button, ...], ...]]:
    """The body and buttons of the composed message: a forwarded one's lines are all text (someone else's)."""
    text = str(state.get("text", ""))
    return (text.strip(), ()) if state.get("forwarded") else split_message(text)


async def _compose(ctx: Ctx, text: str, photo: Photo | None = None, *, forwarded: bool = False) -> list[Reply]:
    state: dict[str, Any] = {"step": "audience", "text": text, "channel": None, "paid": False}
    if forwarded:
        state["forwarded"] = True
    if photo is not None:
        state["photo"] = {"path": photo.path, "sha256": photo.sha256}
    body, rows = _content(state)
    preview = broadcasts.message(body, rows, photo=photo)  # raises (nothing saved) when it can't be sent
    await _drop_draft(ctx)
    menu = await _audience_menu(ctx, state)
    await _save(ctx, state)
    return [TextReply(ctx.t("broadcast.preview")), preview, *menu]


async def _compose_message(ctx: Ctx, msg: Message) -> list[Reply]:
    """A message at the "text" step: its formatted text (or caption) and its photo are the broadcast."""
    source = msg.markdown if msg.markdown is not None else msg.text
    if msg.forwarded and not source.strip() and msg.photo is None:
        raise UserFacingError("broadcast.forward_empty")  # a sticker, a voice note…
    if msg.unsupported:
        raise UserFacingError("broadcast.unsupported")  # a video with a caption: never send just the caption
    return await _compose(ctx, source, msg.photo, forwarded=msg.forwarded)


def _photo_of(state: dict[str, Any]) -> Photo | None:
    photo = state.get("photo")
    if not isinstance(photo, dict):
        return None
    path, sha256 = photo.get("path"), photo.get("sha256")
    return Photo(path, sha256) if isinstance(path, str) and isinstance(sha256, str) else None


async def _audience_menu(ctx: Ctx, state: dict[str, Any]) -> list[Reply]:
    """The audience buttons (their specs go into ``state["choices"]``), the channel filter and the paid toggle."""
    t = ctx.t
    courses, plans = await broadcasts.targets(ctx.uow, ctx.user)
    everyone = "broadcast.aud.everyone" if ctx.user.has_role(Role.ADMIN) else "broadcast.aud.followers"
    choices: list[tuple[str, str]] = [("all", t(everyone))]
    choices += [(f"course:{c.slug}", t("broadcast.aud.course", title=c.title)) for c in courses[:MAX_COURSE_CHOICES]]
    choices += [(f"plan:{p.slug}", t("broadcast.aud.plan", title=p.title)) for p in plans[:MAX_PLAN_CHOICES]]
    choices.append((f"inactive:{INACTIVE_DAYS}", t("broadcast.aud.inactive", days=INACTIVE_DAYS)))
    rows: list[tuple[Button, ...]] = [(Button(label, A.of(COMPOSE, f"a{i}")),) for i, (_, label) in enumerate(choices)]
    langs = [(f"lang:{code}", t("broadcast.aud.lang", lang=t("lang." + code))) for code in LANGUAGES]
    rows.append(tuple(Button(label, A.of(COMPOSE, f"a{len(choices) + i}")) for i, (_, label) in enumerate(langs)))
    choices += langs
    channel = state.get("channel")
    chan_row = []
    for option in (None, *CHANNELS):
        label = _channel_label(t, option)
        shown = t("broadcast.selected", label=label) if option == channel else label
        chan_row.append(Button(shown, A.of(COMPOSE, f"ch.{option or 'any'}")))
    rows.append(tuple(chan_row))
    if channel in (None, "telegram"):
        key = "broadcast.btn.paid_on" if state.get("paid") else "broadcast.btn.paid_off"
        rows.append((Button(t(key), A.of(COMPOSE, "paid")),))
    rows.append(_cancel_row(ctx))
    state["choices"] = [spec for spec, _ in choices]
    state["step"] = "audience"
    text = t("broadcast.choose", channel=_channel_label(t, channel))
    return [TextReply(text, tuple(rows))]


async def _choose(ctx: Ctx, state: dict[str, Any], spec: str) -> list[Reply]:
    """Count the audience, record a draft and ask for confirmation."""
    t = ctx.t
    body, rows = _content(state)
    channel = state.get("channel")
    draft = await broadcasts.draft(
        ctx.uow, ctx.user, body, spec, channel, bool(state.get("paid")), ctx.now, buttons=rows, photo=_photo_of(state)
    )
    previous = state.get("campaign")
    if isinstance(previous, int) and previous != draft.campaign.id:
        await broadcasts.discard(ctx.uow, previous, ctx.user, ctx.now)  # the superseded draft
    per_channel = t("ui.list_sep").join(
        t("broadcast.per_channel", channel=_channel_label(t, name), count=n) for name, n in draft.per_channel.items()
    )
    lines = [
        t("broadcast.audience", spec=str(parse_audience(spec)), channel=_channel_label(t, channel)),
        t.n("broadcast.count", draft.audience, channels=per_channel or "-"),
    ]
    if draft.stars is not None:
        lines.append(t("broadcast.stars", stars=draft.stars))
    buttons: list[tuple[Button, ...]] = []
    if draft.audience:
        buttons.append((Button(t.n("broadcast.btn.send", draft.audience), A.of(COMPOSE, "ok")),))
    else:
        lines.append(t("broadcast.nobody"))
    buttons.append((Button(t("broadcast.btn.change"), A.of(COMPOSE, "back")), *_cancel_row(ctx)))
    state.update(step="confirm", campaign=draft.campaign.id, audience=draft.audience)
    await _save(ctx, state)
    return [TextReply("\n".join(lines), tuple(buttons))]


async def _confirm(ctx: Ctx, state: dict[str, Any]) -> list[Reply]:
    campaign_id = state.get("campaign")
    if state.get("step") != "confirm" or not isinstance(campaign_id, int):
        return [TextReply(ctx.t("menu.expired"))]
    # Confirmed: a worker writes the recipient rows and sends (jobs/broadcast_start.py). The answer does not
    # wait for them: a million rows take half a minute, and WeChat gives up on an answer after five seconds.
    await broadcasts.queue(ctx.uow, campaign_id, ctx.user, ctx.now)
    await ctx.kv.clear_state(ctx.state_key)
    progress = await broadcasts.status(ctx.uow, campaign_id, ctx.user, ctx.now)
    audience = state.get("audience")
    count = audience if isinstance(audience, int) else 0
    return [TextReply(ctx.t.n("broadcast.queued", count, id=campaign_id)), *_status_replies(ctx, progress)]


@router.command("broadcast")
async def broadcast_command(ctx: Ctx, args: str) -> list[Reply]:
    broadcasts.check_sender(ctx.user)
    if not args:
        await _drop_draft(ctx)
        await _save(ctx, {"step": "text"})
        return [TextReply(ctx.t("broadcast.ask_text"), (_cancel_row(ctx),))]
    sub = _SUBCOMMAND.match(args.strip())
    if sub is None:
        return await _compose(ctx, args)
    if sub.group(1):
        return await _status(ctx, int(sub.group(2)) if sub.group(2) else None)
    op, campaign_id = sub.group(3).lower(), int(sub.group(4))
    if op == "start":  # a draft: hand it to the workers (starting it twice changes nothing)
        campaign = await broadcasts.queue(ctx.uow, campaign_id, ctx.user, ctx.now)
        state = await _state(ctx)
        if state is not None and state.get("campaign") == campaign_id:
            await ctx.kv.clear_state(ctx.state_key)
        progress = await broadcasts.status(ctx.uow, campaign_id, ctx.user, ctx.now)
        if campaign.status is CampaignStatus.STARTING:
            return [TextReply(ctx.t("broadcast.queued_plain", id=campaign_id)), *_status_replies(ctx, progress)]
        return _status_replies(ctx, progress)
    return await _steer(ctx, op[0], campaign_id)


@router.action(COMPOSE)
async def compose_action(ctx: Ctx, arg: str) -> list[Reply]:
    broadcasts.check_sender(ctx.user)
    state = await _state(ctx)
    if state is None:
        return [TextReply(ctx.t("broadcast.expired"))]
    if arg == "x":
        return await _discard(ctx, state)
    if arg == "ok":
        return await _confirm(ctx, state)
    if "text" not in state:
        return [TextReply(ctx.t("menu.expired"))]
    if arg.startswith("a"):
        n = parse_int(arg[1:], maximum=100)
        choices = state.get("choices") or []
        if n is None or n >= len(choices):
            return [TextReply(ctx.t("menu.expired"))]
        return await _choose(ctx, state, str(choices[n]))
    if arg.startswith("ch."):
        channel = arg[3:]
        if channel != "any" and channel not in CHANNELS:
            return [TextReply(ctx.t("menu.expired"))]
        state["channel"] = None if channel == "any" else channel
        state["paid"] = bool(state.get("paid")) and state["channel"] in (None, "telegram")
    elif arg == "paid":
        state["paid"] = not state.get("paid") and state.get("channel") in (None, "telegram")
    elif arg != "back":
        return [TextReply(ctx.t("menu.expired"))]
    menu = await _audience_menu(ctx, state)
    await _save(ctx, state)
    return menu


async def _discard(ctx: Ctx, state: dict[str, Any]) -> list[Reply]:
    campaign_id = state.get("campaign")
    if isinstance(campaign_id, int):
        await broadcasts.discard(ctx.uow, campaign_id, ctx.user, ctx.now)
    await ctx.kv.clear_state(ctx.state_key)
    return [TextReply(ctx.t("broadcast.discarded"))]


@router.message
async def broadcast_message(ctx: Ctx, msg: Message) -> list[Reply] | None:
    """While composing: the next message (text, photo or forwarded) is the broadcast.

    Later in the flow a typed audience spec is plain text (:func:`broadcast_text`); a photo or a
    forwarded message then gets a hint instead of silently replacing what was previewed.
    """
    if not ctx.user.has_role(Role.CREATOR):
        return None  # learners never compose: don't even look for state
    state = await _state(ctx)
    if state is None:
        return None
    if state.get("step") == "text":
        return await _compose_message(ctx, msg)
    if msg.photo is not None or msg.forwarded:
        return [TextReply(ctx.t("broadcast.already_composed"))]
    return None


@router.text
async def broadcast_text(ctx: Ctx, text: str) -> list[Reply] | None:
    """While composing, after the preview: a typed audience spec (the message itself came through
    :func:`broadcast_message`)."""
    if not ctx.user.has_role(Role.CREATOR):
        return None
    state = await _state(ctx)
    if state is None or state.get("step") == "text":
        return None
    return await _choose(ctx, state, text)


# ------------------------------------------------------------------------------------ progress


def _eta(t: Translator, eta: timedelta | None) -> str:
    if eta is None:
        return t("broadcast.eta_unknown")
    minutes = eta.total_seconds() / 60
    if minutes < 1:
        return t("broadcast.eta_soon")
    if minutes < 120:
        return t("broadcast.eta_minutes", n=math.ceil(minutes))
    return t("broadcast.eta_hours", n=math.ceil(minutes / 60))


def _status_text(t: Translator, p: Progress) -> str:
    c = p.campaign
    lines = [
        t("broadcast.status", id=c.id, state=t("broadcast.state." + c.status.value)),
        t("broadcast.audience", spec=c.audience, channel=_channel_label(t, c.channel)),
        t(
            "broadcast.counts",
            sent=p.sent,
            failed=p.failed,
            blocked=p.blocked,
            skipped=p.skipped,
            deferred=p.deferred,
            remaining=p.remaining,
            total=p.total,
        ),
        t("broadcast.clicks", clicks=p.clicks),
    ]
    if c.status is CampaignStatus.RUNNING:
        lines.append(t("broadcast.eta", eta=_eta(t, p.eta)))
    return "\n".join(lines)


def _status_replies(ctx: Ctx, p: Progress) -> list[Reply]:
    t, c = ctx.t, p.campaign
    row: list[Button] = []
    if c.status in (CampaignStatus.STARTING, CampaignStatus.RUNNING, CampaignStatus.PAUSED):
        row.append(Button(t("broadcast.btn.refresh"), A.of(STEER, f"s.{c.id}")))
    if c.status is CampaignStatus.RUNNING:
        row.append(Button(t("broadcast.btn.pause"), A.of(STEER, f"p.{c.id}")))
    if c.status is CampaignStatus.PAUSED:
        row.append(Button(t("broadcast.btn.resume"), A.of(STEER, f"r.{c.id}")))
    if c.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.DRAFT, CampaignStatus.STARTING):
        row.append(Button(t("broadcast.btn.cancel"), A.of(STEER, f"c.{c.id}")))
    return [TextReply(_status_text(t, p), (tuple(row),) if row else ())]


async def _status(ctx: Ctx, campaign_id: int | None) -> list[Reply]:
    if campaign_id is None:
        mine = [c for c in await broadcasts.recent(ctx.uow, ctx.user, limit=20) if _listed(c)]
        if not mine:
            return [TextReply(ctx.t("broadcast.none"))]
        campaign_id = mine[0].id
    return _status_replies(ctx, await broadcasts.status(ctx.uow, campaign_id, ctx.user, ctx.now))


async def _steer(ctx: Ctx, op: str, campaign_id: int) -> list[Reply]:
    if op == "p":
        await broadcasts.pause(ctx.uow, campaign_id, ctx.user, ctx.now)
    elif op == "r":
        await broadcasts.resume(ctx.uow, campaign_id, ctx.user, ctx.now)
    elif op == "c":
        await broadcasts.cancel(ctx.uow, campaign_id, ctx.user, ctx.now)
    return await _status(ctx, campaign_id)


@router.action(STEER)
async def steer_action(ctx: Ctx, arg: str) -> list[Reply]:
    m = _STEER.match(arg)
    if m is None:
        return [TextReply(ctx.t("menu.expired"))]
    return await _steer(ctx, m.group(1), int(m.group(2)))


def _listed(c: Campaign) -> bool:
    """Drafts that were replaced or discarded before they ever started are noise in the list."""
    return not (c.status is CampaignStatus.CANCELLED and c.started_at is None)


@router.command("broadcasts")
async def broadcasts_command(ctx: Ctx, args: str) -> list[Reply]:
    t = ctx.t
    mine = [c for c in await broadcasts.recent(ctx.uow, ctx.user, limit=30) if _listed(c)][:10]
    if not mine:
        return [TextReply(t("broadcast.none"))]
    lines = [t("broadcast.list_header")]
    buttons: list[tuple[Button, ...]] = []
    for c in mine:
        p = await broadcasts.progress_of(ctx.uow, c, ctx.now)
        state = t("broadcast.state." + c.status.value)
        lines.append(
            t("broadcast.list_line", id=c.id, state=state, sent=p.sent, total=p.total, clicks=p.clicks, spec=c.audience)
        )
        buttons.append((Button(t("broadcast.btn.open", id=c.id), A.of(STEER, f"s.{c.id}")),))
    return [TextReply("\n".join(lines), tuple(buttons))]


def report_replies(t: Translator, campaign: Campaign, progress: Progress) -> list[Reply]:
    """The final report for the campaign's creator (the delivery engine sends it when a campaign ends)."""
    p = progress
    text = t(
        "broadcast.report",
        id=campaign.id,
        sent=p.sent,
        deferred=p.deferred,
        failed=p.failed,
        blocked=p.blocked,
        skipped=p.skipped,
        cancelled=p.cancelled,
        clicks=p.clicks,
        total=p.total,
    )
    return [TextReply(text)]


# ------------------------------------------------------------------------------------ tracked clicks


def tracking_router(root: Router) -> Router:
    """The ``bc`` action: count the press, then run the button's original action through ``root``."""
    tracked = Router()

    @tracked.action(TRACK_ACTION)
    async def tracked_click(ctx: Ctx, arg: str) -> list[Reply]:
        m = _CLICK.match(arg)
        if m is None:
            return [TextReply(ctx.t("menu.expired"))]
        target = await broadcasts.record_click(ctx.uow, int(m.group(1)), ctx.user, int(m.group(2)), ctx.now)
        action = _ACTION.match(target) if target is not None else None
        handler = root.actions.get(action.group(1)) if action is not None else None
        if action is None or handler is None or action.group(1) == TRACK_ACTION:
            return [TextReply(ctx.t("menu.expired"))]
        # The click counts even if the action then fails (e.g. the course was unpublished since).
        await ctx.uow.commit()
        return await handler(ctx, action.group(2) or "")

    return tracked
