"""Account journey: /settings (language, timezone, and which broadcasts and pushes to receive)."""

from __future__ import annotations

import re
from dataclasses import replace

from core.accounts import set_language, set_timezone
from core.audiences import MUTE_BROADCASTS, MUTE_RECOMMENDATIONS, creator_mute
from core.broadcasts import mute_settings, set_creator_mute, set_mute
from core.i18n import translator
from core.replies import Button, Reply, TextReply
from core.users import LANGUAGES, User
from handlers.actions import A
from handlers.context import Ctx
from handlers.router import Router

__all__ = ["MUTE", "router"]

router = Router()

MUTE = "mute"  # mute:<b|r|c<user id>>.<1 mute|0 unmute>
_MUTE_ARG = re.compile(r"^(b|r|c[1-9][0-9]{0,15})\.([01])$")
_MUTE_WORDS = {"broadcasts": MUTE_BROADCASTS, "recommendations": MUTE_RECOMMENDATIONS}


def _name(t_lang: str, user: User) -> str:
    return user.display_name[:40] or translator(t_lang)("settings.sender_fallback", id=user.id)


async def _settings(ctx: Ctx, lang: str, tz: str) -> list[Reply]:
    t = translator(lang)
    mutes = await mute_settings(ctx.uow, ctx.user)
    on_off = {False: t("settings.on"), True: t("settings.off")}
    lines = [
        t("settings.show", lang=t("lang." + lang), timezone=tz),
        "",
        t("settings.notifications", broadcasts=on_off[mutes.broadcasts], recommendations=on_off[mutes.recommendations]),
    ]
    muted = [_name(lang, u) for u, m in mutes.senders if m]
    if muted:
        lines.append(t("settings.muted_senders", names=t("ui.list_sep").join(muted)))
    rows: list[tuple[Button, ...]] = []
    switch = tuple(Button(t("lang.switch." + code), A.of(A.LANG, code)) for code in LANGUAGES if code != lang)
    if switch:
        rows.append(switch)
    b_key = "settings.unmute_broadcasts" if mutes.broadcasts else "settings.mute_broadcasts"
    r_key = "settings.unmute_recommendations" if mutes.recommendations else "settings.mute_recommendations"
    rows.append(
        (
            Button(t(b_key), A.of(MUTE, f"b.{int(not mutes.broadcasts)}")),
            Button(t(r_key), A.of(MUTE, f"r.{int(not mutes.recommendations)}")),
        )
    )
    for sender, is_muted in mutes.senders:
        key = "settings.unmute_sender" if is_muted else "settings.mute_sender"
        rows.append((Button(t(key, name=_name(lang, sender)), A.of(MUTE, f"c{sender.id}.{int(not is_muted)}")),))
    return [TextReply("\n".join(lines), tuple(rows))]


async def _mute_command(ctx: Ctx, what: str, muted: bool) -> list[Reply]:
    scope = _MUTE_WORDS.get(what.lower())
    if scope is not None:
        await set_mute(ctx.uow, ctx.user, scope, muted, ctx.now)
    else:
        await set_creator_mute(ctx.uow, ctx.user, what, muted, ctx.now)
    key = "settings.muted" if muted else "settings.unmuted"
    return [TextReply(ctx.t(key)), *await _settings(ctx, ctx.user.lang, ctx.user.timezone)]


@router.command("settings")
async def settings_command(ctx: Ctx, args: str) -> list[Reply]:
    parts = args.split()
    if not parts:
        return await _settings(ctx, ctx.user.lang, ctx.user.timezone)
    if len(parts) == 2 and parts[0].lower() in ("lang", "language"):
        lang = parts[1].lower()
        await set_language(ctx.uow, ctx.user, lang)
        ctx.user = replace(ctx.user, lang=lang)  # the rest of this event speaks the new language
        return [TextReply(translator(lang)("settings.lang_saved")), *await _settings(ctx, lang, ctx.user.timezone)]
    if len(parts) == 2 and parts[0].lower() in ("tz", "timezone"):
        await set_timezone(ctx.uow, ctx.user, parts[1])
        return [TextReply(ctx.t("settings.tz_saved", timezone=parts[1]))]
    if len(parts) == 2 and parts[0].lower() in ("mute", "unmute"):
        return await _mute_command(ctx, parts[1], parts[0].lower() == "mute")
    return [TextReply(ctx.t("settings.usage"))]


@router.action(A.LANG)
async def lang_action(ctx: Ctx, arg: str) -> list[Reply]:
    if arg not in LANGUAGES:
        return [TextReply(ctx.t("menu.expired"))]
    await set_language(ctx.uow, ctx.user, arg)
    ctx.user = replace(ctx.user, lang=arg)  # the rest of this event speaks the new language
    return [TextReply(translator(arg)("settings.lang_saved")), *await _settings(ctx, arg, ctx.user.timezone)]


@router.action(MUTE)
async def mute_action(ctx: Ctx, arg: str) -> list[Reply]:
    m = _MUTE_ARG.match(arg)
    if m is None:
        return [TextReply(ctx.t("menu.expired"))]
    what, muted = m.group(1), m.group(2) == "1"
    if what == "b":
        scope = MUTE_BROADCASTS
    elif what == "r":
        scope = MUTE_RECOMMENDATIONS
    else:
        sender = await ctx.uow.users.get(int(what[1:]))
        if sender is None or sender.id == ctx.user.id:
            return [TextReply(ctx.t("menu.expired"))]
        scope = creator_mute(sender.id)
    await set_mute(ctx.uow, ctx.user, scope, muted, ctx.now)
    key = "settings.muted" if muted else "settings.unmuted"
    return [TextReply(ctx.t(key)), *await _settings(ctx, ctx.user.lang, ctx.user.timezone)]
