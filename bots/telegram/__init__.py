"""Telegram adapter (python-telegram-bot 22.x)."""

__all__: list[str] = []
