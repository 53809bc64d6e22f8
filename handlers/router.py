"""A small router: commands, button actions, messages and free text, registered per feature module.

One :class:`Router` per user journey (catalog, purchase, learning, account,
info), included into a root router by :func:`handlers.build_router`. Button
actions are ``prefix:arg`` strings; the router dispatches on the prefix and
hands the (untrusted) argument to the handler, which validates it.

Most handlers need only a message's text (``text``). The few that need the
whole :class:`core.events.Message` (its photo, its formatting, whether it was
forwarded) register with ``message``: they see every message that is not a
command, before the text handlers, and return None to pass it on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from core.events import Message, PaymentSucceeded, PreCheckout
from core.replies import Reply
from handlers.context import Ctx

__all__ = ["ActionHandler", "CommandHandler", "MessageHandler", "Router"]

CommandHandler = Callable[[Ctx, str], Awaitable[list[Reply]]]
ActionHandler = Callable[[Ctx, str], Awaitable[list[Reply]]]
TextHandler = Callable[[Ctx, str], Awaitable[list[Reply] | None]]
MessageHandler = Callable[[Ctx, Message], Awaitable[list[Reply] | None]]
PreCheckoutHandler = Callable[[Ctx, PreCheckout], Awaitable[list[Reply]]]
PaymentHandler = Callable[[Ctx, PaymentSucceeded], Awaitable[list[Reply]]]
EventHandler = Callable[[Ctx, Any], Awaitable[list[Reply]]]


class Router:
    def __init__(self) -> None:
        self.commands: dict[str, CommandHandler] = {}
        self.actions: dict[str, ActionHandler] = {}
        self.texts: list[TextHandler] = []
        self.messages: list[MessageHandler] = []
        self.pre_checkouts: list[PreCheckoutHandler] = []
        self.payments: list[PaymentHandler] = []
        self.events: dict[type, EventHandler] = {}

    def command(self, *names: str) -> Callable[[CommandHandler], CommandHandler]:
        def deco(fn: CommandHandler) -> CommandHandler:
            for name in names:
                if name in self.commands:
                    raise ValueError(f"command /{name} registered twice")
                self.commands[name] = fn
            return fn

        return deco

    def action(self, *prefixes: str) -> Callable[[ActionHandler], ActionHandler]:
        def deco(fn: ActionHandler) -> ActionHandler:
            for prefix in prefixes:
                if prefix in self.actions:
                    raise ValueError(f"action {prefix!r} registered twice")
                self.actions[prefix] = fn
            return fn

        return deco

    def text(self, fn: TextHandler) -> TextHandler:
        """Free text; handlers run in order until one returns replies."""
        self.texts.append(fn)
        return fn

    def message(self, fn: MessageHandler) -> MessageHandler:
        """The whole message (photo, formatting, forwarded), before the text handlers; None passes it on."""
        self.messages.append(fn)
        return fn

    def pre_checkout(self, fn: PreCheckoutHandler) -> PreCheckoutHandler:
        self.pre_checkouts.append(fn)
        return fn

    def payment(self, fn: PaymentHandler) -> PaymentHandler:
        self.payments.append(fn)
        return fn

    def on(self, event_type: type) -> Callable[[EventHandler], EventHandler]:
        """Any other neutral event (refunds, community joins…), one handler per type."""

        def deco(fn: EventHandler) -> EventHandler:
            if event_type in self.events:
                raise ValueError(f"event {event_type.__name__} registered twice")
            self.events[event_type] = fn
            return fn

        return deco

    def include(self, other: Router) -> None:
        for event_type, fn in other.events.items():
            self.on(event_type)(fn)
        for name, cmd in other.commands.items():
            self.command(name)(cmd)
        for prefix, act in other.actions.items():
            self.action(prefix)(act)
        self.texts.extend(other.texts)
        self.messages.extend(other.messages)
        self.pre_checkouts.extend(other.pre_checkouts)
        self.payments.extend(other.payments)
