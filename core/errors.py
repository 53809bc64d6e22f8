"""Domain errors that carry a translation key, so every channel can explain them.

Handlers catch :class:`UserFacingError` and render ``t(err.key, **err.params)``
in the user's language; everything else is a bug and is logged with context.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Conflict", "GatewayError", "NotFound", "PermissionDenied", "UserFacingError"]


class UserFacingError(Exception):
    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class NotFound(UserFacingError):
    pass


class PermissionDenied(UserFacingError):
    def __init__(self, key: str = "error.permission", **params: Any) -> None:
        super().__init__(key, **params)


class Conflict(Exception):
    """A concurrent twin won a uniqueness race (e.g. two first messages creating one user).

    Storage raises it instead of leaking driver errors; the dispatcher retries the
    whole event once in a fresh transaction, where the twin's work is visible.
    """


class GatewayError(Exception):
    """A payment or messenger provider refused an operation or could not be reached.

    ``reason`` is safe to show to an admin (no tokens, no URLs).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
