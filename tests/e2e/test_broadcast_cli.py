"""``python bot.py broadcast``: the same drafts, permissions and rows as /broadcast, from the command line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from support import png

import bot
from core.accounts import ensure_user
from core.clock import FrozenClock
from core.delivery import CampaignStatus, DeliveryStatus
from core.events import Sender
from core.replies import MediaReply
from core.users import Ref


async def _users(app: bot.App, clock: FrozenClock, n: int) -> None:
    async with app.uow() as uow:
        for i in range(n):
            await ensure_user(uow, Sender(Ref("console", f"learner{i}")), now=clock.now(), timezone="UTC")
        await uow.commit()


async def test_an_admin_broadcasts_to_everyone_and_rows_are_recorded(
    demo: bot.App, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await _users(demo, clock, 5)
    await bot.grant(demo, "console:boss", "admin")
    args = bot.parser().parse_args(
        ["broadcast", "--audience", "all", "--text", "Hello **all**", "--as", "console:boss", "--yes"]
    )
    await bot.broadcast_command(demo, args)
    out = capsys.readouterr().out
    assert "reaches 6 people" in out and "6 messages queued" in out
    async with demo.uow() as uow:
        campaigns = await uow.deliveries.campaigns()
        assert campaigns[0].status is CampaignStatus.RUNNING
        assert await uow.deliveries.progress(campaigns[0].id) == {DeliveryStatus.PENDING: 6}


async def test_a_learner_may_not_broadcast_and_nothing_is_recorded(demo: bot.App, clock: FrozenClock) -> None:
    await _users(demo, clock, 2)
    args = bot.parser().parse_args(
        ["broadcast", "--audience", "all", "--text", "spam", "--as", "console:learner0", "--yes"]
    )
    with pytest.raises(bot.CliError):
        await bot.broadcast_command(demo, args)
    async with demo.uow() as uow:
        assert await uow.deliveries.campaigns() == []


async def test_a_bad_audience_is_a_clear_error(demo: bot.App, clock: FrozenClock) -> None:
    await bot.grant(demo, "console:boss", "admin")
    args = bot.parser().parse_args(
        ["broadcast", "--audience", "everyone!", "--text", "x", "--as", "console:boss", "--yes"]
    )
    with pytest.raises(bot.CliError):
        await bot.broadcast_command(demo, args)


async def test_a_photo_broadcast_from_the_command_line(demo: bot.App, clock: FrozenClock, tmp_path: Path) -> None:
    await _users(demo, clock, 2)
    await bot.grant(demo, "console:boss", "admin")
    picture, notes = tmp_path / "sale.png", tmp_path / "notes.png"
    picture.write_bytes(png(9))
    notes.write_text("not a picture")
    bad = ["broadcast", "--audience", "all", "--photo", str(notes), "--as", "console:boss", "--yes"]
    with pytest.raises(bot.CliError, match="can't use that file as a photo"):
        await bot.broadcast_command(demo, bot.parser().parse_args(bad))
    good = ["broadcast", "--audience", "all", "--photo", str(picture), "--text", "**Sale**", "--as", "console:boss"]
    await bot.broadcast_command(demo, bot.parser().parse_args([*good, "--yes"]))
    async with demo.uow() as uow:
        (campaign,) = await uow.deliveries.campaigns()
    (reply,) = campaign.replies
    assert isinstance(reply, MediaReply) and reply.caption == "**Sale**" and reply.markdown
    assert reply.sha256 == hashlib.sha256(png(9)).hexdigest() and Path(reply.path).read_bytes() == png(9)
