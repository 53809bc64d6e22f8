"""Audiences: whom a broadcast goes to, and who may send to whom.

An audience is written as a short spec, so it fits in a command, a campaign
row and a log line: ``all``, ``course:<slug>`` (the course's buyers),
``plan:<slug>`` (the plan's current members), ``inactive:<days>`` (no lesson
activity for that many days), ``lang:<zh|en>``, joined with ``+`` to narrow
(``course:python-basics+lang:zh``). The messenger is a separate filter
(``telegram``, ``wechat``, ``console`` or any).

Who may reach whom is decided here, in the core, and nowhere else: an admin
reaches everyone; a creator reaches only their *followers*, the people who
hold or held an entitlement, paid an order or studied a course or plan the
creator owns (``creator = "<REF>"`` in the catalog), and names only their own
courses and plans; learners broadcast to no one. Opt-outs (:data:`MUTE_BROADCASTS`,
:func:`creator_mute`, :data:`MUTE_RECOMMENDATIONS`) are part of every
:class:`Scope`, so storage leaves muted users out when it counts and when it
writes delivery rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.catalog import SLUG_RE, Course, Plan
from core.delivery import CampaignKind
from core.errors import NotFound, PermissionDenied, UserFacingError
from core.users import CHANNELS, LANGUAGES, Ref, Role, User

if TYPE_CHECKING:
    from core.ports import UnitOfWork

__all__ = [
    "MAX_INACTIVE_DAYS",
    "MUTE_BROADCASTS",
    "MUTE_RECOMMENDATIONS",
    "Audience",
    "Scope",
    "authorize",
    "creator_mute",
    "parse",
    "parse_channel",
    "parse_mute",
    "resolve",
]

MAX_INACTIVE_DAYS = 365
MAX_SPEC = 200
MUTE_BROADCASTS = "broadcasts"  # every creator's broadcasts
MUTE_RECOMMENDATIONS = "recommendations"  # the platform's recommendation pushes
_CREATOR_MUTE = re.compile(r"^creator:([1-9][0-9]{0,15})$")


@dataclass(frozen=True, slots=True)
class Audience:
    """A parsed spec: every set field narrows the audience (no field: everyone the sender may reach)."""

    course: str | None = None  # buyers of this course (an entitlement not revoked)
    plan: str | None = None  # members of this plan right now
    inactive_days: int | None = None  # no lesson activity (or, never active: no sign-up) in this many days
    lang: str | None = None  # users whose language is this

    def __str__(self) -> str:
        """The canonical spec (what a campaign stores); :func:`parse` reads it back to an equal value."""
        terms = []
        if self.course is not None:
            terms.append(f"course:{self.course}")
        if self.plan is not None:
            terms.append(f"plan:{self.plan}")
        if self.inactive_days is not None:
            terms.append(f"inactive:{self.inactive_days}")
        if self.lang is not None:
            terms.append(f"lang:{self.lang}")
        return "+".join(terms) or "all"


def parse(spec: str) -> Audience:
    """Read an audience spec; a :class:`UserFacingError` says what is wrong with a bad one."""
    text = spec.strip().lower()
    if not text:
        raise UserFacingError("audience.empty")
    if len(text) > MAX_SPEC:
        raise UserFacingError("audience.too_long", limit=MAX_SPEC)
    fields: dict[str, str | int] = {}
    for raw in text.split("+"):
        term = raw.strip()
        kind, sep, value = term.partition(":")
        kind, value = kind.strip(), value.strip()
        if term == "all":
            continue
        if not sep or kind not in ("course", "plan", "inactive", "lang"):
            raise UserFacingError("audience.unknown_term", term=term[:40] or "+")
        if kind in fields:
            raise UserFacingError("audience.duplicate", term=kind)
        if kind in ("course", "plan"):
            if not SLUG_RE.match(value):
                raise UserFacingError("audience.bad_slug", term=term[:60])
            fields[kind] = value
        elif kind == "inactive":
            n = int(value) if value.isdigit() and len(value) <= 4 else 0
            if not 1 <= n <= MAX_INACTIVE_DAYS:
                raise UserFacingError("audience.bad_days", max=MAX_INACTIVE_DAYS)
            fields[kind] = n
        else:
            if value not in LANGUAGES:
                raise UserFacingError("audience.bad_lang")
            fields[kind] = value
    if "course" in fields and "plan" in fields:
        raise UserFacingError("audience.two_targets")
    course, plan, days, lang = (fields.get(k) for k in ("course", "plan", "inactive", "lang"))
    return Audience(
        course=None if course is None else str(course),
        plan=None if plan is None else str(plan),
        inactive_days=None if days is None else int(days),
        lang=None if lang is None else str(lang),
    )


def parse_channel(text: str | None) -> str | None:
    """The messenger filter: ``telegram``, ``wechat``, ``console``; ``None``, ``""`` or ``any``: every one."""
    if text is None:
        return None
    value = text.strip().lower()
    if value in ("", "any", "all"):
        return None
    if value not in CHANNELS:
        raise UserFacingError("audience.bad_channel")
    return value


def creator_mute(creator_id: int) -> str:
    """The mute scope that silences one sender (a creator, or an admin who broadcasts)."""
    return f"creator:{creator_id}"


def parse_mute(scope: str) -> str | None:
    """A valid mute scope as stored, or None (the only three forms a user may set)."""
    if scope in (MUTE_BROADCASTS, MUTE_RECOMMENDATIONS) or _CREATOR_MUTE.match(scope):
        return scope
    return None


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a sender may reach, and which opt-outs apply: what storage needs beyond the :class:`Audience`."""

    sender_id: int | None  # whose campaign it is (None: the platform itself)
    owner_refs: frozenset[str] | None = None  # None: every user (admins); else followers of what these REFs own
    kind: CampaignKind = CampaignKind.BROADCAST

    @property
    def mute_scopes(self) -> tuple[str, ...]:
        """Any of these in a user's mutes leaves them out."""
        general = MUTE_RECOMMENDATIONS if self.kind is CampaignKind.RECOMMENDATION else MUTE_BROADCASTS
        return (general,) if self.sender_id is None else (general, creator_mute(self.sender_id))


def authorize(
    actor: User,
    actor_refs: Iterable[Ref | str],
    audience: Audience,
    *,
    course: Course | None = None,
    plan: Plan | None = None,
    kind: CampaignKind = CampaignKind.BROADCAST,
) -> Scope:
    """Whether ``actor`` may address ``audience``, and the reach that results.

    ``course`` / ``plan`` are the catalog items the spec names (None when it names none, or the
    slug is unknown). Admins reach every user; creators reach their followers and only name
    items whose ``creator`` is one of their REFs; learners are refused.
    """
    if not actor.has_role(Role.CREATOR):
        raise PermissionDenied("broadcast.not_allowed")
    if audience.course is not None and course is None:
        raise NotFound("audience.unknown_course", slug=audience.course)
    if audience.plan is not None and plan is None:
        raise NotFound("audience.unknown_plan", slug=audience.plan)
    if actor.has_role(Role.ADMIN):
        return Scope(sender_id=actor.id, owner_refs=None, kind=kind)
    refs = frozenset(str(r) for r in actor_refs)
    if audience.course is not None and (course is None or course.creator not in refs):
        raise PermissionDenied("audience.not_your_course", slug=audience.course)
    if audience.plan is not None and (plan is None or plan.creator not in refs):
        raise PermissionDenied("audience.not_your_plan", slug=audience.plan)
    return Scope(sender_id=actor.id, owner_refs=refs, kind=kind)


async def resolve(
    uow: UnitOfWork, actor: User, audience: Audience, *, kind: CampaignKind = CampaignKind.BROADCAST
) -> Scope:
    """:func:`authorize` with its inputs looked up: the actor's REFs and the items the spec names."""
    if not actor.has_role(Role.CREATOR):
        raise PermissionDenied("broadcast.not_allowed")
    course = await uow.catalog.get_course(audience.course) if audience.course else None
    plan = await uow.catalog.get_plan(audience.plan) if audience.plan else None
    refs = await uow.users.refs(actor.id)
    return authorize(actor, refs, audience, course=course, plan=plan, kind=kind)
