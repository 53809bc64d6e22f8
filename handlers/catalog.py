"""Catalog journey: /catalog (paginated), /course SLUG, /search QUERY, /plans, free-text search."""

from __future__ import annotations

from core.catalog import Course
from core.learning import course_state
from core.replies import Button, Reply, TextReply
from core.search import search_courses
from handlers.actions import A, parse_int, parse_slug
from handlers.context import Ctx
from handlers.router import Router
from handlers.views import course_card, price_label

__all__ = ["router", "show_course"]

router = Router()


def _listing(ctx: Ctx, courses: list[Course], *, header: str, page: int) -> list[Reply]:
    size = ctx.config.page_size
    pages = max(1, (len(courses) + size - 1) // size)
    page = min(max(page, 0), pages - 1)
    chunk = courses[page * size : (page + 1) * size]
    lines = [header]
    for i, c in enumerate(chunk, start=page * size + 1):
        lines.append(
            ctx.t("catalog.item", n=i, title=c.title, price=price_label(ctx, c), lang=ctx.t("lang." + c.language))
        )
        if c.summary:
            lines.append("   " + c.summary)
    rows: list[tuple[Button, ...]] = [(Button(c.title, A.of(A.COURSE, c.slug)),) for c in chunk]
    nav: list[Button] = []
    if page > 0:
        nav.append(Button(ctx.t("btn.prev"), A.of(A.CATALOG, page - 1)))
    if page < pages - 1:
        nav.append(Button(ctx.t("btn.more"), A.of(A.CATALOG, page + 1)))
    if nav:
        rows.append(tuple(nav))
    if pages > 1:
        lines.append(ctx.t("catalog.page", page=page + 1, pages=pages))
    return [TextReply("\n".join(lines), tuple(rows))]


async def _catalog(ctx: Ctx, page: int) -> list[Reply]:
    courses = await ctx.uow.catalog.list_courses()
    if not courses:
        return [TextReply(ctx.t("catalog.empty"))]
    # The learner's own language first, then the rest; stable by id inside each group.
    courses.sort(key=lambda c: (c.language != ctx.user.lang, c.id))
    return _listing(ctx, courses, header=ctx.t("catalog.header", count=len(courses)), page=page)


@router.command("catalog")
async def catalog_command(ctx: Ctx, args: str) -> list[Reply]:
    page = parse_int(args) if args else 1
    return await _catalog(ctx, (page or 1) - 1)


@router.action(A.CATALOG)
async def catalog_page(ctx: Ctx, arg: str) -> list[Reply]:
    page = parse_int(arg or "0", maximum=10_000)
    if page is None:
        return [TextReply(ctx.t("menu.expired"))]
    return await _catalog(ctx, page)


async def show_course(ctx: Ctx, slug: str) -> list[Reply]:
    course = await ctx.uow.catalog.get_course(slug) if parse_slug(slug) else None
    if course is None or not course.published:
        return [
            TextReply(
                ctx.t("catalog.not_found", slug=slug[:48]), ((Button(ctx.t("btn.catalog"), A.of(A.CATALOG, 0)),),)
            )
        ]
    state = await course_state(ctx.uow, ctx.user, course, ctx.now)
    return course_card(ctx, course, owned=state.access is not None)


@router.command("course")
async def course_command(ctx: Ctx, args: str) -> list[Reply]:
    if not args:
        return [TextReply(ctx.t("course.usage"))]
    return await show_course(ctx, args.split()[0].lower())


@router.action(A.COURSE)
async def course_action(ctx: Ctx, arg: str) -> list[Reply]:
    return await show_course(ctx, arg)


async def _search(ctx: Ctx, query: str) -> list[Reply]:
    found = search_courses(await ctx.uow.catalog.list_courses(), query)
    if not found:
        return [
            TextReply(
                ctx.t("search.none", query=query[:100]),
                ((Button(ctx.t("btn.catalog"), A.of(A.CATALOG, 0)),),),
            )
        ]
    return _listing(ctx, found, header=ctx.t("search.header", query=query[:100], count=len(found)), page=0)


@router.command("search")
async def search_command(ctx: Ctx, args: str) -> list[Reply]:
    if not args:
        return [TextReply(ctx.t("search.prompt"))]
    return await _search(ctx, args)


@router.text
async def free_text(ctx: Ctx, text: str) -> list[Reply] | None:
    """Free text that is not a command or a menu choice is a search."""
    return await _search(ctx, text)


@router.command("plans")
async def plans_command(ctx: Ctx, args: str) -> list[Reply]:
    plans = await ctx.uow.catalog.list_plans()
    if not plans:
        return [TextReply(ctx.t("plans.empty"))]
    lines = [ctx.t("plans.header")]
    rows: list[tuple[Button, ...]] = []
    if not ctx.caps.sells:
        lines.append(ctx.t("ios.no_sale"))
    for p in plans:
        price = (
            " / ".join(ctx.t.money(m) for m in p.price.options()) if ctx.caps.sells else ctx.t("price.not_sold_here")
        )
        scope = ctx.t("plans.all_courses") if p.includes_all else ctx.t.n("plans.some_courses", len(p.course_ids))
        lines += ["", ctx.t("plans.item", title=p.title, price=price, days=p.period_days, scope=scope)]
        if p.description:
            lines.append(p.description)
        if ctx.caps.sells:
            rows.append((Button(ctx.t("btn.subscribe", title=p.title, price=price), A.of(A.BUY, p.slug)),))
    return [TextReply("\n".join(lines), tuple(rows))]


@router.action(A.PLANS)
async def plans_action(ctx: Ctx, arg: str) -> list[Reply]:
    return await plans_command(ctx, "")
