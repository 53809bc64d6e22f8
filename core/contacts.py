"""Follower contacts: who follows the bot's account on a channel, and on which platform.

WeChat tells an official account when a user follows it (``subscribe``,
possibly by scanning a parametric QR code whose *scene* says where they came
from) and when they unfollow. We record both, plus the platform the user's
phone runs, learnt from the user agent of our H5 pages (payment pages behave
differently on iOS and Android).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.users import Ref

__all__ = ["Contact", "Platform", "platform_from_user_agent"]


class Platform(StrEnum):
    IOS = "ios"
    ANDROID = "android"
    OTHER = "other"


_IOS = re.compile(r"\b(?:iPhone|iPad|iPod|iOS)\b", re.IGNORECASE)
_ANDROID = re.compile(r"\bAndroid\b", re.IGNORECASE)


def platform_from_user_agent(ua: str) -> Platform:
    """The platform a user agent names: iPhone/iPad/iPod/iOS, Android, or anything else.

    WeChat's in-app browser on an iPhone says e.g. ``Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like
    Mac OS X) ... MicroMessenger/8.0.44``; desktop WeChat (Windows, Mac) is :attr:`Platform.OTHER`.
    """
    if _IOS.search(ua):
        return Platform.IOS
    if _ANDROID.search(ua):
        return Platform.ANDROID
    return Platform.OTHER


@dataclass(frozen=True, slots=True)
class Contact:
    """What the channel told us about one identity's relation to the bot's account."""

    ref: Ref
    following: bool
    followed_at: datetime | None  # the latest follow
    unfollowed_at: datetime | None  # the latest unfollow
    scene: str | None  # the QR-code scene of the latest follow that had one
    platform: Platform | None  # None until one of our H5 pages saw the user's browser
