"""Users, their per-channel identities (REFs) and roles.

A person is known per messenger by a REF such as ``telegram:123``,
``wechat:o6_bmjrPTlm6_2sgVt7hMZOPfL2M`` or ``console:alice``. Roles are
ordered: an admin may do everything a creator may, a creator everything a
learner may.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CHANNELS",
    "DEFAULT_TIMEZONE",
    "LANGUAGES",
    "Ref",
    "Role",
    "User",
    "language_from_code",
    "valid_timezone",
]

CHANNELS = ("telegram", "wechat", "console")
LANGUAGES = ("zh", "en")
DEFAULT_TIMEZONE = "Asia/Shanghai"

_EXTERNAL_ID = {
    "telegram": re.compile(r"^-?[0-9]{1,20}$"),
    "wechat": re.compile(r"^[A-Za-z0-9_-]{6,64}$"),
    "console": re.compile(r"^[A-Za-z0-9_.@-]{1,64}$"),
}


class Role(enum.IntEnum):
    LEARNER = 1
    CREATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: use learner, creator or admin") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Ref:
    """A channel-qualified user reference, e.g. ``telegram:123``."""

    channel: str
    external_id: str

    @classmethod
    def parse(cls, text: str) -> Ref:
        channel, sep, external = text.strip().partition(":")
        if not sep or channel not in CHANNELS:
            raise ValueError(f"bad REF {text!r}: expected telegram:<user_id>, wechat:<openid> or console:<id>")
        if not _EXTERNAL_ID[channel].match(external):
            raise ValueError(f"bad REF {text!r}: {external!r} is not a valid {channel} id")
        return cls(channel, external)

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_id}"


def language_from_code(code: str | None) -> str:
    """Map a messenger language code (``zh-hans``, ``en-US``…) onto zh or en."""
    if code and code.lower().startswith("zh"):
        return "zh"
    if code and code.lower().startswith("en"):
        return "en"
    return "zh" if code is None else "en"


_TZ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}$")


def valid_timezone(name: str) -> bool:
    """True for an IANA zone name such as ``Asia/Shanghai``.

    The shape is checked first, and any error from loading the zone counts as
    "unknown": depending on where tzdata lives, a region name such as ``Asia``
    is a directory and raises ``IsADirectoryError`` rather than ``ZoneInfoNotFoundError``.
    """
    if not _TZ_NAME.match(name) or len(name) > 64:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class User:
    id: int
    ref_code: str  # the user's own referral code, used in r_<code> links
    role: Role
    lang: str
    timezone: str
    created_at: datetime
    referred_by: int | None = None
    display_name: str = ""

    def has_role(self, role: Role) -> bool:
        return self.role >= role
