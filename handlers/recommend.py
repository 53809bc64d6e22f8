"""Recommendations journey: /recommend, the weekly push's course buttons, and 👍 likes.

``/recommend`` shows up to five courses as buttons, each with its reason in
the learner's language ("because you studied …"); it works for everyone,
including learners who refused the weekly push in /settings (PIPL art. 24:
they asked for it themselves). ``/recommend stats`` shows admins how the
latest pushes did: shown, pressed, and purchases attributed to them.

The push itself is rendered here too (:func:`push_messages`), so it reads
exactly like /recommend; ``jobs/recommend_push.py`` sends it through the delivery
engine. Its buttons are ``rp:<campaign>.<n>``: a press counts as a click of
that push (once per recipient and button), then opens the course.
"""

from __future__ import annotations

import re

from core import recommendations
from core.audiences import MUTE_RECOMMENDATIONS
from core.broadcasts import progress_of
from core.i18n import Translator
from core.recommend import ReasonKind
from core.recommendations import SHOW, Pick, push_stats, recommend_for
from core.replies import Button, Reply, TextReply
from handlers.account import MUTE
from handlers.actions import A, parse_slug
from handlers.catalog import show_course
from handlers.context import Ctx
from handlers.router import Router

__all__ = ["LIKE", "PUSHED", "RECOMMEND", "like_button", "push_messages", "reason_text", "router"]

router = Router()

PUSHED = "rp"  # rp:<campaign id>.<n>: course button n of a recommendation push was pressed
LIKE = A.LIKE  # lk:<course slug>
RECOMMEND = A.RECOMMEND  # the /recommend list, as a button
_PUSHED_ARG = re.compile(r"^([1-9][0-9]{0,15})\.([0-9])$")


def reason_text(t: Translator, pick: Pick) -> str:
    """Why a course is recommended, in the learner's language."""
    kind, anchor = pick.reason.kind, pick.anchor
    if kind == ReasonKind.STUDIED and anchor is not None:
        return t("recommend.reason.studied", title=anchor.title)
    if kind == ReasonKind.BOUGHT_TOGETHER and anchor is not None:
        return t("recommend.reason.bought_together", title=anchor.title)
    if kind == ReasonKind.POPULAR:
        return t("recommend.reason.popular")
    if kind == ReasonKind.NEW:
        return t("recommend.reason.new")
    if kind == ReasonKind.SEARCH:
        return t("recommend.reason.search")
    return t("recommend.reason.other")


def _lines(t: Translator, picks: list[Pick]) -> list[str]:
    return [t("recommend.item", n=i, title=p.course.title, reason=reason_text(t, p)) for i, p in enumerate(picks, 1)]


def push_messages(t: Translator, campaign_id: int, picks: list[Pick]) -> list[Reply]:
    """The weekly push: the courses with their reasons, a tracked button each, and a one-tap opt-out."""
    rows: list[tuple[Button, ...]] = [
        (Button(p.course.title, A.of(PUSHED, f"{campaign_id}.{n}")),) for n, p in enumerate(picks)
    ]
    rows.append((Button(t("btn.mute_recommendations"), A.of(MUTE, "r.1")),))
    text = "\n".join([t("recommend.push_header"), *_lines(t, picks), "", t("recommend.push_footer")])
    return [TextReply(text, tuple(rows))]


def like_button(t: Translator, slug: str) -> Button:
    """The 👍 button for a course (under a lesson, on a course card)."""
    return Button(t("btn.like"), A.of(LIKE, slug))


@router.command("recommend")
async def recommend_command(ctx: Ctx, args: str) -> list[Reply]:
    if args.strip().lower() == "stats":
        return await _stats(ctx)
    t = ctx.t
    picks = await recommend_for(ctx.uow, ctx.user.id, ctx.now, live=ctx.services.recommender, n=SHOW)
    catalog = Button(t("btn.catalog"), A.of(A.CATALOG, 0))
    if not picks:
        return [TextReply(t("recommend.empty"), ((catalog,),))]
    lines = [t("recommend.header"), *_lines(t, picks)]
    if MUTE_RECOMMENDATIONS in await ctx.uow.deliveries.mutes(ctx.user.id):
        lines += ["", t("recommend.push_off")]
    rows: list[tuple[Button, ...]] = [(Button(p.course.title, A.of(A.COURSE, p.course.slug)),) for p in picks]
    rows.append((catalog,))
    return [TextReply("\n".join(lines), tuple(rows))]


async def _stats(ctx: Ctx) -> list[Reply]:
    t = ctx.t
    found = await push_stats(ctx.uow, ctx.user)
    if not found:
        return [TextReply(t("recommend.stats_none"))]
    lines = [t("recommend.stats_header")]
    for campaign, report in found:
        progress = await progress_of(ctx.uow, campaign, ctx.now)
        revenue = t("ui.list_sep").join(t.money(m) for m in report.revenue) or "-"
        lines.append(
            t(
                "recommend.stats_line",
                id=campaign.id,
                when=t.when(campaign.created_at, ctx.user.timezone),
                sent=progress.sent,
                total=progress.total,
                shown=report.shown,
                clicked=report.clicked,
                bought=report.conversions,
                revenue=revenue,
            )
        )
    return [TextReply("\n".join(lines))]


@router.action(PUSHED)
async def pushed_action(ctx: Ctx, arg: str) -> list[Reply]:
    """A course button of a push: count the click (only a recipient's: the course must be what they were
    shown), then open the course."""
    m = _PUSHED_ARG.match(arg)
    if m is None:
        return [TextReply(ctx.t("menu.expired"))]
    campaign_id, n = int(m.group(1)), int(m.group(2))
    course_id = await ctx.uow.recommendations.pushed_course(campaign_id, ctx.user.id, n)
    course = await ctx.uow.catalog.get_course_by_id(course_id) if course_id is not None else None
    if course is None:
        return [TextReply(ctx.t("menu.expired"))]
    await ctx.uow.deliveries.click(campaign_id, ctx.user.id, n, ctx.now)
    await ctx.uow.commit()  # the click counts even if opening the course then fails (unpublished since)
    return await show_course(ctx, course.slug)


@router.action(LIKE)
async def like_action(ctx: Ctx, arg: str) -> list[Reply]:
    course = await ctx.uow.catalog.get_course(arg) if parse_slug(arg) else None
    if course is None or not course.published:
        return [TextReply(ctx.t("menu.expired"))]
    liked = await recommendations.record_like(ctx.uow, ctx.user.id, course.id, ctx.now)
    key = "like.ok" if liked else "like.already"
    return [TextReply(ctx.t(key, title=course.title), ((Button(ctx.t("btn.recommend"), A.of(RECOMMEND)),),))]


@router.action(RECOMMEND)
async def recommend_action(ctx: Ctx, arg: str) -> list[Reply]:
    return await recommend_command(ctx, "")
