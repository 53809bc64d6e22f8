"""Shared renderers: course cards and lessons as neutral replies.

Every journey that shows a course or delivers a lesson goes through these,
so a lesson looks the same after /next, after a purchase and (issue 5) in a
drip push.
"""

from __future__ import annotations

from urllib.parse import quote

from core.catalog import Course, DripMode, Lesson
from core.entitlements import Access, AccessDecision
from core.i18n import Translator
from core.learning import NextKind, NextLesson
from core.replies import Button, MediaReply, Reply, TextReply
from handlers.actions import A
from handlers.context import Ctx

__all__ = [
    "charge_label",
    "course_card",
    "lesson_messages",
    "lesson_replies",
    "locked_replies",
    "next_replies",
    "price_label",
    "share_link",
]


def price_label(ctx: Ctx, course: Course) -> str:
    if course.is_free:
        return ctx.t("price.free")
    if not ctx.caps.sells:
        return ctx.t("price.not_sold_here")
    return " / ".join(ctx.t.money(m) for m in course.price.options())


def charge_label(ctx: Ctx, course: Course) -> str:
    """What buying costs in *this* channel (Stars on Telegram, fiat in the sandbox…)."""
    charge = course.price.in_currencies(ctx.caps.currencies, ctx.caps.preferred_currency)
    return ctx.t.money(charge) if charge else price_label(ctx, course)


def course_card(ctx: Ctx, course: Course, *, owned: bool) -> list[Reply]:
    t = ctx.t
    drip = {
        DripMode.ALL: t("drip.all"),
        DripMode.DAILY: t("drip.daily", hour=f"{course.drip_hour:02d}:00"),
        DripMode.ON_COMPLETE: t("drip.on_complete"),
    }[course.drip_mode]
    lines = [t("card.title", title=course.title)]
    if course.summary:
        lines.append(course.summary)
    if course.description:
        desc = course.description if len(course.description) <= 700 else course.description[:700] + t("ui.ellipsis")
        lines += ["", desc]
    lines.append("")
    meta = [t("lang." + course.language)] + ([course.category] if course.category else [])
    lines.append(t("card.meta", meta=t("ui.sep").join(meta), tags=t("ui.list_sep").join(course.tags) or "-"))
    lines.append(t.n("card.lessons", course.lesson_count, free=course.free_lesson_count) + t("ui.sep") + drip)
    if ctx.caps.sells or course.is_free:
        lines.append(t("card.price", price=price_label(ctx, course)))
    elif not owned:
        lines.append(t("ios.no_sale"))
    if owned:
        lines.append(t("card.owned"))
    rows: list[tuple[Button, ...]] = []
    first = [Button(t("btn.continue"), A.of(A.NEXT, course.slug))] if owned or course.is_free else []
    if not first and course.free_lesson_count:
        first.append(Button(t("btn.preview"), A.of(A.PREVIEW, course.slug)))
    if not owned and not course.is_free and ctx.caps.sells:
        first.append(Button(t("btn.buy", price=charge_label(ctx, course)), A.of(A.BUY, course.slug)))
    if first:
        rows.append(tuple(first))
    if ctx.caps.share_url:
        rows.append((Button(t("btn.share"), url=share_link(ctx, course)),))
    rows.append((Button(t("btn.like"), A.of(A.LIKE, course.slug)),))  # 👍: a signal for recommendations
    rows.append((Button(t("btn.catalog"), A.of(A.CATALOG, 0)), Button(t("btn.my"), A.MY)))
    return [TextReply("\n".join(lines), tuple(rows))]


def share_link(ctx: Ctx, course: Course) -> str:
    """A link that opens the messenger's share sheet with the course's deep link (``start=c_<slug>``)."""
    deep = f"{ctx.caps.share_url}c_{course.slug}"
    text = ctx.t("share.text", title=course.title)
    return f"https://t.me/share/url?url={quote(deep, safe='')}&text={quote(text, safe='')}"


def lesson_replies(ctx: Ctx, course: Course, lesson: Lesson, total: int) -> list[Reply]:
    """A lesson as messages: the Markdown text, its media, then the actions."""
    return lesson_messages(ctx.t, course, lesson, total)


def lesson_messages(t: Translator, course: Course, lesson: Lesson, total: int) -> list[Reply]:
    """:func:`lesson_replies` without a chat context: what a drip push sends (it needs only the language)."""
    paid = not lesson.free and not course.is_free
    header = t("lesson.header", course=course.title, n=lesson.position + 1, total=total, title=lesson.title)
    out: list[Reply] = [TextReply(f"{header}\n\n{lesson.body}", markdown=True, protect=paid)]
    out += [MediaReply(m.kind, m.path, m.sha256, m.caption, protect=paid) for m in lesson.media]
    buttons = (
        Button(t("btn.done"), A.of(A.DONE, lesson.id)),
        Button(t("btn.next"), A.of(A.NEXT, course.slug)),
    )
    out.append(TextReply(t("lesson.actions"), (buttons,)))
    return out


def locked_replies(
    ctx: Ctx, course: Course, lesson: Lesson, decision: AccessDecision, previous: Lesson | None
) -> list[Reply]:
    t = ctx.t
    n = lesson.position + 1
    if decision.access is Access.NEEDS_PURCHASE and not ctx.caps.sells:
        return [
            TextReply(
                t("lesson.needs_purchase", n=n, title=lesson.title, course=course.title) + "\n" + t("ios.no_sale")
            )
        ]
    if decision.access is Access.NEEDS_PURCHASE:
        return [
            TextReply(
                t("lesson.needs_purchase", n=n, title=lesson.title, course=course.title),
                ((Button(t("btn.buy", price=charge_label(ctx, course)), A.of(A.BUY, course.slug)),),),
            )
        ]
    if decision.access is Access.NOT_YET and decision.opens_at is not None:
        when = t.when(decision.opens_at, ctx.user.timezone)
        return [TextReply(t("lesson.not_yet", n=n, title=lesson.title, when=when))]
    if decision.access is Access.NEEDS_COMPLETION and previous is not None:
        return [
            TextReply(
                t("lesson.needs_completion", n=n, prev=previous.position + 1, prev_title=previous.title),
                ((Button(t("btn.done_prev", n=previous.position + 1), A.of(A.DONE, previous.id)),),),
            )
        ]
    return [TextReply(t("lesson.locked"))]


def next_replies(ctx: Ctx, result: NextLesson) -> list[Reply]:
    if result.kind is NextKind.DELIVER and result.lesson is not None:
        return lesson_replies(ctx, result.course, result.lesson, result.total)
    if result.kind is NextKind.LOCKED and result.lesson is not None and result.decision is not None:
        return locked_replies(ctx, result.course, result.lesson, result.decision, result.previous)
    return [
        TextReply(
            ctx.t("lesson.finished", course=result.course.title),
            ((Button(ctx.t("btn.catalog"), A.of(A.CATALOG, 0)),),),
        )
    ]
