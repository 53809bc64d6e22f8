"""Learning journey: /next, opening a lesson, marking it done, /my."""

from __future__ import annotations

from core.errors import NotFound
from core.learning import complete_lesson, current_course, my_courses, next_lesson, open_lesson
from core.replies import Button, Reply, TextReply
from handlers.actions import A, parse_int, parse_slug
from handlers.context import Ctx
from handlers.recommend import like_button
from handlers.router import Router
from handlers.subscriptions import subscription_replies
from handlers.views import lesson_replies, locked_replies, next_replies

__all__ = ["router"]

router = Router()


async def _next(ctx: Ctx, slug: str | None) -> list[Reply]:
    if slug is not None:
        course = await ctx.uow.catalog.get_course(slug) if parse_slug(slug) else None
        if course is None or not course.published:
            return [TextReply(ctx.t("catalog.not_found", slug=slug[:48]))]
    else:
        course = await current_course(ctx.uow, ctx.user, ctx.now)
        if course is None:
            return [TextReply(ctx.t("next.nothing"), ((Button(ctx.t("btn.catalog"), A.of(A.CATALOG, 0)),),))]
    return next_replies(ctx, await next_lesson(ctx.uow, ctx.user, course, ctx.now))


@router.command("next")
async def next_command(ctx: Ctx, args: str) -> list[Reply]:
    return await _next(ctx, args.split()[0].lower() if args else None)


@router.action(A.NEXT)
async def next_action(ctx: Ctx, arg: str) -> list[Reply]:
    if parse_slug(arg) is None:
        return [TextReply(ctx.t("menu.expired"))]
    return await _next(ctx, arg)


@router.action(A.PREVIEW)
async def preview_action(ctx: Ctx, arg: str) -> list[Reply]:
    course = await ctx.uow.catalog.get_course(arg) if parse_slug(arg) else None
    if course is None or not course.published:
        return [TextReply(ctx.t("menu.expired"))]
    lessons = await ctx.uow.catalog.lessons(course.id)
    free = next((ls for ls in lessons if ls.free), None)
    if free is None:
        return [TextReply(ctx.t("preview.none"))]
    return await _open(ctx, free.id)


async def _open(ctx: Ctx, lesson_id: int) -> list[Reply]:
    try:
        lesson, course, decision = await open_lesson(ctx.uow, ctx.user, lesson_id, ctx.now)
    except NotFound:
        return [TextReply(ctx.t("menu.expired"))]
    if not decision.allowed:
        lessons = await ctx.uow.catalog.lessons(course.id)
        previous = lessons[lesson.position - 1] if 0 < lesson.position <= len(lessons) else None
        return locked_replies(ctx, course, lesson, decision, previous)
    return lesson_replies(ctx, course, lesson, course.lesson_count)


@router.action(A.LESSON)
async def lesson_action(ctx: Ctx, arg: str) -> list[Reply]:
    lesson_id = parse_int(arg)
    if lesson_id is None:
        return [TextReply(ctx.t("menu.expired"))]
    return await _open(ctx, lesson_id)


@router.action(A.DONE)
async def done_action(ctx: Ctx, arg: str) -> list[Reply]:
    lesson_id = parse_int(arg)
    if lesson_id is None:
        return [TextReply(ctx.t("menu.expired"))]
    try:
        lesson, course, newly = await complete_lesson(ctx.uow, ctx.user, lesson_id, ctx.now)
    except NotFound:
        return [TextReply(ctx.t("menu.expired"))]
    key = "done.ok" if newly else "done.already"
    # 👍 beside Next: the moment a lesson is done is when a learner knows whether they like the course.
    return [
        TextReply(
            ctx.t(key, n=lesson.position + 1, title=lesson.title),
            ((Button(ctx.t("btn.next"), A.of(A.NEXT, course.slug)), like_button(ctx.t, course.slug)),),
        )
    ]


@router.command("my")
async def my_command(ctx: Ctx, args: str) -> list[Reply]:
    mine = await my_courses(ctx.uow, ctx.user, ctx.now)
    subs = await subscription_replies(ctx)
    if not mine:
        return subs or [TextReply(ctx.t("my.empty"), ((Button(ctx.t("btn.catalog"), A.of(A.CATALOG, 0)),),))]
    t = ctx.t
    lines = [t("my.header")]
    rows: list[tuple[Button, ...]] = []
    for item in mine:
        c = item.course
        if item.access is None and not c.is_free:
            status = t("my.preview_only")
        elif item.access is not None and item.access.until is not None:
            status = t("my.until", when=t.when(item.access.until, ctx.user.timezone))
        else:
            status = t("my.forever")
        lines.append(t("my.item", title=c.title, done=item.completed, total=c.lesson_count, status=status))
        rows.append((Button(t("btn.continue_course", title=c.title), A.of(A.NEXT, c.slug)),))
    return [TextReply("\n".join(lines), tuple(rows)), *subs]


@router.action(A.MY)
async def my_action(ctx: Ctx, arg: str) -> list[Reply]:
    return await my_command(ctx, "")
