"""Account journey: /settings (language, timezone)."""

from __future__ import annotations

from dataclasses import replace

from core.accounts import set_language, set_timezone
from core.i18n import translator
from core.replies import Button, Reply, TextReply
from core.users import LANGUAGES
from handlers.actions import A
from handlers.context import Ctx
from handlers.router import Router

__all__ = ["router"]

router = Router()


def _settings(ctx: Ctx, lang: str, tz: str) -> list[Reply]:
    t = translator(lang)
    text = t("settings.show", lang=t("lang." + lang), timezone=tz)
    buttons = tuple(Button(t("lang.switch." + code), A.of(A.LANG, code)) for code in LANGUAGES if code != lang)
    return [TextReply(text, (buttons,) if buttons else ())]


@router.command("settings")
async def settings_command(ctx: Ctx, args: str) -> list[Reply]:
    parts = args.split()
    if not parts:
        return _settings(ctx, ctx.user.lang, ctx.user.timezone)
    if len(parts) == 2 and parts[0].lower() in ("lang", "language"):
        lang = parts[1].lower()
        await set_language(ctx.uow, ctx.user, lang)
        ctx.user = replace(ctx.user, lang=lang)  # the rest of this event speaks the new language
        return [TextReply(translator(lang)("settings.lang_saved")), *_settings(ctx, lang, ctx.user.timezone)]
    if len(parts) == 2 and parts[0].lower() in ("tz", "timezone"):
        await set_timezone(ctx.uow, ctx.user, parts[1])
        return [TextReply(ctx.t("settings.tz_saved", timezone=parts[1]))]
    return [TextReply(ctx.t("settings.usage"))]


@router.action(A.LANG)
async def lang_action(ctx: Ctx, arg: str) -> list[Reply]:
    if arg not in LANGUAGES:
        return [TextReply(ctx.t("menu.expired"))]
    await set_language(ctx.uow, ctx.user, arg)
    ctx.user = replace(ctx.user, lang=arg)  # the rest of this event speaks the new language
    return [TextReply(translator(arg)("settings.lang_saved")), *_settings(ctx, arg, ctx.user.timezone)]
