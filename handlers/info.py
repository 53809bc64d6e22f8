"""Entry and information: /start [payload], /help, /terms, /privacy and the main menu.

Deep-link payloads: ``c_<slug>`` opens a course card; ``r_<code>`` records
who invited the user, before anything else happens.
"""

from __future__ import annotations

from core.accounts import record_referral
from core.replies import Button, Reply, TextReply
from handlers.actions import A
from handlers.catalog import show_course
from handlers.context import Ctx
from handlers.router import Router

__all__ = ["router"]

router = Router()


def _menu(ctx: Ctx) -> tuple[tuple[Button, ...], ...]:
    t = ctx.t
    return (
        (Button(t("btn.catalog"), A.of(A.CATALOG, 0)), Button(t("btn.my"), A.MY)),
        (Button(t("btn.plans"), A.PLANS), Button(t("btn.help"), A.HELP)),
    )


def _welcome(ctx: Ctx) -> list[Reply]:
    key = "start.welcome_new" if ctx.first_contact else "start.welcome_back"
    return [TextReply(ctx.t(key, bot=ctx.config.bot_name), _menu(ctx))]


@router.command("start")
async def start_command(ctx: Ctx, args: str) -> list[Reply]:
    payload = args.split()[0] if args else ""
    if payload.startswith("r_") and 2 < len(payload) <= 34:
        await record_referral(ctx.uow, ctx.user, payload[2:], first_contact=ctx.first_contact)
        return _welcome(ctx)
    if payload.startswith("c_") and len(payload) > 2:
        return await show_course(ctx, payload[2:].lower())
    return _welcome(ctx)


@router.command("menu")
async def menu_command(ctx: Ctx, args: str) -> list[Reply]:
    return [TextReply(ctx.t("menu.header"), _menu(ctx))]


@router.action(A.MENU)
async def menu_action(ctx: Ctx, arg: str) -> list[Reply]:
    return await menu_command(ctx, "")


@router.command("help")
async def help_command(ctx: Ctx, args: str) -> list[Reply]:
    return [TextReply(ctx.t("help.text", bot=ctx.config.bot_name), _menu(ctx))]


@router.action(A.HELP)
async def help_action(ctx: Ctx, arg: str) -> list[Reply]:
    return await help_command(ctx, "")


@router.command("terms")
async def terms_command(ctx: Ctx, args: str) -> list[Reply]:
    return [TextReply(ctx.t("terms.text", bot=ctx.config.bot_name, contact=ctx.config.support_contact))]


@router.command("paysupport")
async def paysupport_command(ctx: Ctx, args: str) -> list[Reply]:
    return [TextReply(ctx.t("paysupport.text", contact=ctx.config.support_contact))]


@router.command("privacy")
async def privacy_command(ctx: Ctx, args: str) -> list[Reply]:
    return [TextReply(ctx.t("privacy.text", bot=ctx.config.bot_name, contact=ctx.config.support_contact))]
