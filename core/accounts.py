"""Accounts: turning a channel REF into a user, roles, language and referrals.

Users are created on first contact with the language their messenger
reports (zh or en) and the default timezone. Admin REFs from configuration
are promoted at start. A referral (``r_<code>``) is recorded only on a
user's first contact and never to themselves, so attribution cannot be
rewritten later.
"""

from __future__ import annotations

from datetime import datetime

from core.errors import UserFacingError
from core.events import Sender
from core.ids import new_code
from core.ports import UnitOfWork
from core.users import LANGUAGES, Ref, Role, User, language_from_code, valid_timezone

__all__ = ["ensure_user", "grant_role", "record_referral", "set_language", "set_timezone"]


async def ensure_user(uow: UnitOfWork, sender: Sender, *, now: datetime, timezone: str) -> tuple[User, bool]:
    """The user behind ``sender``, created on first contact. Returns (user, created)."""
    user = await uow.users.get_by_ref(sender.ref)
    if user is not None:
        return user, False
    user = await uow.users.create(
        sender.ref,
        ref_code=new_code(8),
        role=Role.LEARNER,
        lang=language_from_code(sender.language_code),
        timezone=timezone,
        now=now,
        display_name=sender.display_name,
    )
    return user, True


async def grant_role(uow: UnitOfWork, ref: Ref, role: Role, *, now: datetime, timezone: str) -> User:
    """Give ``ref`` exactly ``role`` (creating the user if it never wrote yet)."""
    user, _ = await ensure_user(uow, Sender(ref=ref, language_code=None), now=now, timezone=timezone)
    if user.role != role:
        await uow.users.set_role(user.id, role)
    found = await uow.users.get(user.id)
    assert found is not None
    return found


async def record_referral(uow: UnitOfWork, user: User, code: str, *, first_contact: bool) -> bool:
    """Credit the inviter behind ``code``. True if recorded."""
    if not first_contact or user.referred_by is not None:
        return False
    inviter = await uow.users.get_by_ref_code(code)
    if inviter is None or inviter.id == user.id:
        return False
    await uow.users.set_referred_by(user.id, inviter.id)
    return True


async def set_language(uow: UnitOfWork, user: User, lang: str) -> None:
    if lang not in LANGUAGES:
        raise UserFacingError("settings.bad_language")
    await uow.users.set_lang(user.id, lang)


async def set_timezone(uow: UnitOfWork, user: User, timezone: str) -> None:
    if not valid_timezone(timezone):
        raise UserFacingError("settings.bad_timezone", timezone=timezone[:64])
    await uow.users.set_timezone(user.id, timezone)
