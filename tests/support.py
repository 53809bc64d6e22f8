"""Test helpers shared across the suite (importable as ``support``)."""

from __future__ import annotations

import io

import bot
from bots.console import ConsoleChannel

__all__ = ["TestBot"]


class TestBot:
    __test__ = False  # not a test class, despite the name

    """Push a line as a console user; get back what the bot printed."""

    def __init__(self, app: bot.App, user: str = "alice", lang: str = "en") -> None:
        self.out = io.StringIO()
        self.channel = ConsoleChannel(app.dispatcher, app.kv, user=user, lang=lang, out=self.out)

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
