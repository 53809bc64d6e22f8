"""Catalog journey: /catalog (paginated), /course SLUG, /search QUERY, /plans, free-text search.

Search results page like the catalog, with buttons. A page button carries a short key of the query
(``sr:<12 hex>.<page>``: Telegram allows 64 bytes of callback data, and a Chinese query would not fit),
and the query itself is kept under that key in the shared key-value store for :data:`SEARCH_TTL`.
The key is a hash of the query text alone, so it ties no one to what they searched for.
When nothing matches, the most popular courses are offered instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from core.catalog import Course
from core.learning import course_state
from core.recommendations import record_search, record_view
from core.replies import Button, Reply, TextReply
from handlers.actions import A, parse_int, parse_search_page, parse_slug
from handlers.context import Ctx
from handlers.router import Router
from handlers.views import course_card, price_label

__all__ = ["router", "show_course"]

router = Router()

SEARCH_RESULTS = 60  # the best 60 at most: 10 pages of 6
QUERY_MAX = 100  # characters of a query that are searched for (and echoed back)
SEARCH_TTL = 24 * 3600.0  # how long the page buttons of a search keep working
_QUERY_KEY = "search-query:"


def _catalog_page(page: int) -> str:
    return A.of(A.CATALOG, page)


def _listing(
    ctx: Ctx,
    courses: list[Course],
    *,
    header: str,
    page: int,
    page_action: Callable[[int], str] = _catalog_page,
) -> TextReply:
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
        nav.append(Button(ctx.t("btn.prev"), page_action(page - 1)))
    if page < pages - 1:
        nav.append(Button(ctx.t("btn.more"), page_action(page + 1)))
    if nav:
        rows.append(tuple(nav))
    if pages > 1:
        lines.append(ctx.t("catalog.page", page=page + 1, pages=pages))
    return TextReply("\n".join(lines), tuple(rows))


async def _catalog(ctx: Ctx, page: int) -> list[Reply]:
    courses = await ctx.uow.catalog.list_courses()
    if not courses:
        return [TextReply(ctx.t("catalog.empty"))]
    # The learner's own language first, then the rest; stable by id inside each group.
    courses.sort(key=lambda c: (c.language != ctx.user.lang, c.id))
    return [_listing(ctx, courses, header=ctx.t("catalog.header", count=len(courses)), page=page)]


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
    await record_view(ctx.uow, ctx.user.id, course.id, ctx.now)  # a signal for recommendations
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


def _query_key(query: str) -> str:
    return hashlib.blake2b(query.encode("utf-8"), digest_size=6).hexdigest()


async def _search(ctx: Ctx, query: str, page: int = 0) -> list[Reply]:
    query = " ".join(query.split())[:QUERY_MAX]
    found = await ctx.services.search.search(ctx.uow, query, limit=SEARCH_RESULTS)
    if not found:
        return await _no_results(ctx, query)
    key = _query_key(query)
    if len(found) > ctx.config.page_size:
        await ctx.kv.set_state(_QUERY_KEY + key, {"q": query}, ttl=SEARCH_TTL)
    header = ctx.t("search.header", query=query, count=len(found))
    return [_listing(ctx, found, header=header, page=page, page_action=lambda p: A.of(A.SEARCH, f"{key}.{p}"))]


async def _no_results(ctx: Ctx, query: str) -> list[Reply]:
    """Nothing matched: say so, and offer the most popular courses (and the catalog) instead."""
    to_catalog = (Button(ctx.t("btn.catalog"), _catalog_page(0)),)
    header = ctx.t("search.none", query=query)
    popular = await ctx.services.search.popular(ctx.uow, now=ctx.now, lang=ctx.user.lang, limit=ctx.config.page_size)
    if not popular:
        return [TextReply(header, (to_catalog,))]
    listing = _listing(ctx, popular, header=header + "\n" + ctx.t("search.popular"), page=0)
    return [TextReply(listing.text, (*listing.buttons, to_catalog))]


@router.command("search")
async def search_command(ctx: Ctx, args: str) -> list[Reply]:
    if not args.strip():
        return [TextReply(ctx.t("search.prompt"))]
    await record_search(ctx.uow, ctx.user.id, args, ctx.now)
    return await _search(ctx, args)


@router.action(A.SEARCH)
async def search_page(ctx: Ctx, arg: str) -> list[Reply]:
    parsed = parse_search_page(arg)
    state = await ctx.kv.get_state(_QUERY_KEY + parsed[0]) if parsed else None
    query = state.get("q") if state else None
    if parsed is None or not isinstance(query, str) or _query_key(query) != parsed[0]:
        return [TextReply(ctx.t("search.expired"), ((Button(ctx.t("btn.catalog"), _catalog_page(0)),),))]
    return await _search(ctx, query, parsed[1])


@router.text
async def free_text(ctx: Ctx, text: str) -> list[Reply] | None:
    """Free text that is not a command or a menu choice is a search."""
    await record_search(ctx.uow, ctx.user.id, text, ctx.now)
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
