"""Test helpers shared across the suite (importable as ``support``)."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import timedelta

import bot
from bots.console import ConsoleChannel
from core.accounts import ensure_user
from core.events import Sender
from core.money import Money
from core.orders import Order
from core.purchasing import Confirmation, confirm_payment, start_checkout
from core.users import Ref, User

__all__ = ["ORDER_TTL", "PROVIDER", "TestBot", "checkout", "confirm", "jpeg", "new_user", "png"]


class TestBot:
    __test__ = False  # not a test class, despite the name

    """Push a line as a console user; get back what the bot printed."""

    def __init__(self, app: bot.App, user: str = "alice", lang: str = "en") -> None:
        self.out = io.StringIO()
        self.channel = ConsoleChannel(
            app.dispatcher, app.kv, user=user, lang=lang, out=self.out, media_dir=app.settings.media_dir
        )

    async def say(self, line: str) -> str:
        start = self.out.tell()
        await self.channel.handle_line(line)
        self.out.seek(start)
        printed = self.out.read()
        self.out.seek(0, io.SEEK_END)
        return printed

    async def press(self, label_part: str, output: str) -> str:
        """Press the numbered option whose label contains ``label_part`` in ``output``."""
        for line in output.splitlines():
            for chunk in line.split("  "):
                if chunk.startswith("[") and "]" in chunk and label_part in chunk:
                    return await self.say(chunk[1 : chunk.index("]")])
        raise AssertionError(f"no option containing {label_part!r} in:\n{output}")


# ---------------------------------------------------------------- purchase helpers (one unit of work each)

PROVIDER = "sandbox"
ORDER_TTL = timedelta(minutes=30)


async def new_user(app: bot.App, name: str, *, timezone: str = "Asia/Shanghai") -> User:
    async with app.uow() as uow:
        user, _ = await ensure_user(uow, Sender(Ref("console", name), "en"), now=app.clock.now(), timezone=timezone)
        await uow.commit()
    return user


async def checkout(
    app: bot.App, user: User, slug: str = "python-basics", currencies: frozenset[str] | None = None
) -> Order:
    async with app.uow() as uow:
        result = await start_checkout(
            uow, user, slug, provider=PROVIDER, currencies=currencies, now=app.clock.now(), ttl=ORDER_TTL
        )
        await uow.commit()
    return result.order


async def confirm(app: bot.App, order: Order, charge_id: str, total: Money | None = None) -> Confirmation:
    """One worker: its own unit of work, committed at the end, as the dispatcher does."""
    async with app.uow() as uow:
        result = await confirm_payment(
            uow,
            provider=PROVIDER,
            charge_id=charge_id,
            payload=order.code,
            total=order.price if total is None else total,
            now=app.clock.now(),
        )
        await uow.commit()
    return result


# ---------------------------------------------------------------- images


def png(seed: int = 0) -> bytes:
    """A valid 1x1 PNG, different for every ``seed`` (its pixel and a text chunk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixel = zlib.compress(bytes([0, seed % 256, (seed >> 8) % 256, 200]))
    note = b"Comment\x00" + str(seed).encode()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", note)
        + chunk(b"IDAT", pixel)
        + chunk(b"IEND", b"")
    )


def jpeg(seed: int = 0, size: int = 2048) -> bytes:
    """JPEG-looking bytes (SOI, a JFIF header, filler, EOI) of ``size`` bytes: only the magic bytes are ever read."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    filler = (str(seed).encode() + b"-") * size
    return head + filler[: max(0, size - len(head) - 2)] + b"\xff\xd9"
