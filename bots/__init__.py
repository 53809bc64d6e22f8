"""Messenger adapters. Each turns its messenger's events into neutral ones,
renders neutral replies and declares its capabilities. This package holds
the console channel and the HTTP server the channels' webhooks attach to."""

__all__: list[str] = []
