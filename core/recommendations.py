"""Recommendations, the service side: signals in, a learner's recommended courses out.

The models live in :mod:`core.recommend`; this module is what the rest of the
product calls.

Signals. What a learner does with a course is implicit feedback, recorded as
it happens, in the same transaction as the event itself: a course page opened
(:func:`record_view`, at most once an hour per course), a purchase
(:func:`record_purchase`, from :func:`core.purchasing.confirm_payment`), a
lesson completed (:func:`record_completion`, from
:func:`core.learning.complete_lesson`), a like (:func:`record_like`, once per
course) and a search (:func:`record_search`). The refit job
(``jobs/recommend.py``) learns from them every night.

Serving (:func:`recommend_for`) reads the precomputed top-N the last refit
stored for the user: one indexed read. A user the refit did not know yet (new
since, or with no history then) gets the live model's answer from their
history and recent searches at once (content similarity and popularity), and
without a live model in this process, the refit's cold-start list (popular and
new courses). Whatever the source, courses the user bought (and still owns) or
had refunded, and unpublished courses, are never shown. Courses the user can
open through a membership plan are still recommended: the plan gives access,
the recommendation says which course to start next.

Privacy (PIPL art. 24). A user may refuse personalized pushes in /settings
(:data:`core.audiences.MUTE_RECOMMENDATIONS`): they get no weekly push, but
/recommend, which they ask for themselves, still answers.

Attribution. A push shows up to three courses as buttons; pressing one is a
click of that campaign (``campaign_clicks``, button = its position). A
purchase of that course within :data:`ATTRIBUTION` after the press is
recorded as a conversion of the push (:func:`record_purchase`), and
:func:`push_stats` reports both to admins.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core.audiences import MUTE_RECOMMENDATIONS
from core.catalog import Course
from core.delivery import Campaign, CampaignKind
from core.errors import PermissionDenied
from core.money import Money
from core.orders import ItemKind, OrderStatus
from core.recommend import CourseDoc, Interaction, Reason, Recommendation, Recommender, Signal
from core.users import Role, User

if TYPE_CHECKING:
    from core.ports import UnitOfWork

__all__ = [
    "ATTRIBUTION",
    "MAX_QUERY",
    "PUSH_SIZE",
    "SHOW",
    "TOP_N",
    "VIEW_EVERY",
    "LiveModel",
    "Pick",
    "PushReport",
    "StoredPicks",
    "course_doc",
    "excluded_courses",
    "push_allowed",
    "push_stats",
    "recommend_for",
    "record_completion",
    "record_like",
    "record_purchase",
    "record_search",
    "record_view",
]

log = logging.getLogger(__name__)

SHOW = 5  # courses /recommend shows
PUSH_SIZE = 3  # courses a push shows
TOP_N = 10  # courses precomputed per user
ATTRIBUTION = timedelta(days=7)  # a purchase this long after pressing a pushed course counts for the push
VIEW_EVERY = timedelta(hours=1)  # opening a course page again within this is not another view
MAX_QUERY = 200  # characters of a search query kept
HISTORY = timedelta(days=365)  # how far back a live-model answer looks at the user's signals
HISTORY_LIMIT = 200
QUERIES = timedelta(days=30)  # recent searches steer a live-model answer
QUERY_LIMIT = 5


# ------------------------------------------------------------------------------------ what storage returns


@dataclass(frozen=True, slots=True)
class StoredPicks:
    """What the live refit stored for one user, and its list for everyone it had nothing personal for."""

    run_id: int
    as_of: datetime  # the refit learned from the signals up to this moment
    items: tuple[Recommendation, ...]  # the user's own top-N, best first (empty: the refit didn't know them)
    fallback: tuple[Recommendation, ...]  # popular and new courses, best first


@dataclass(frozen=True, slots=True)
class PushReport:
    shown: int  # recipients whose push was rendered with courses
    clicked: int  # recipients who pressed at least one of them
    conversions: int  # purchases attributed to the push
    revenue: tuple[Money, ...]  # their amount, one per currency


# ------------------------------------------------------------------------------------ signals


async def record_view(uow: UnitOfWork, user_id: int, course_id: int, now: datetime) -> bool:
    """The user opened the course's page; False when it was already counted within :data:`VIEW_EVERY`."""
    last = await uow.recommendations.last_signal(user_id, course_id, Signal.VIEW)
    if last is not None and now - last < VIEW_EVERY:
        return False
    await uow.recommendations.add_signal(user_id, course_id, Signal.VIEW, now)
    return True


async def record_like(uow: UnitOfWork, user_id: int, course_id: int, now: datetime) -> bool:
    """The user liked the course; False when they had liked it before (a like counts once)."""
    if await uow.recommendations.last_signal(user_id, course_id, Signal.LIKE) is not None:
        return False
    await uow.recommendations.add_signal(user_id, course_id, Signal.LIKE, now)
    return True


async def record_completion(uow: UnitOfWork, user_id: int, course_id: int, now: datetime) -> None:
    """The user completed a lesson of the course (each lesson once: the caller knows it was new)."""
    await uow.recommendations.add_signal(user_id, course_id, Signal.COMPLETE, now)


async def record_search(uow: UnitOfWork, user_id: int, query: str, now: datetime) -> None:
    """The user searched for ``query`` (whitespace collapsed, control characters such as NUL dropped (PostgreSQL
    rejects NUL in text), at most :data:`MAX_QUERY` characters)."""
    text = " ".join("".join(ch for ch in query if ch.isprintable() or ch.isspace()).split())[:MAX_QUERY]
    if text:
        await uow.recommendations.add_query(user_id, text, now)


async def record_purchase(uow: UnitOfWork, user_id: int, course_id: int, order_id: int, now: datetime) -> int | None:
    """The user paid for the course: a purchase signal, attributed to a push if they pressed the course in one
    within :data:`ATTRIBUTION` before. Returns that push's campaign id (None: not attributed)."""
    await uow.recommendations.add_signal(user_id, course_id, Signal.BUY, now)
    found = await uow.recommendations.push_click(user_id, course_id, since=now - ATTRIBUTION, until=now)
    if found is None:
        return None
    campaign_id, clicked_at = found
    await uow.recommendations.add_conversion(
        order_id=order_id, user_id=user_id, course_id=course_id, campaign_id=campaign_id, clicked_at=clicked_at, at=now
    )
    return campaign_id


# ------------------------------------------------------------------------------------ serving


@dataclass(frozen=True, slots=True)
class Pick:
    """One recommended course as shown: the course, why, and the course the reason names (if any)."""

    course: Course
    reason: Reason
    anchor: Course | None
    score: float


async def excluded_courses(uow: UnitOfWork, user_id: int, now: datetime) -> set[int]:
    """Courses never to recommend to the user now: bought (and still owned) or refunded."""
    out = {e.course_id for e in await uow.entitlements.for_user(user_id) if e.course_id is not None and e.active(now)}
    for order in await uow.orders.for_user(user_id):
        if order.item_kind is ItemKind.COURSE and order.status is OrderStatus.REFUNDED:
            out.add(order.item_id)
    return out


async def push_allowed(uow: UnitOfWork, user_id: int) -> bool:
    """Whether the user accepts personalized pushes (they can refuse them in /settings)."""
    return MUTE_RECOMMENDATIONS not in await uow.deliveries.mutes(user_id)


async def recommend_for(
    uow: UnitOfWork, user_id: int, now: datetime, *, live: LiveModel | None = None, n: int = SHOW
) -> list[Pick]:
    """Up to ``n`` courses for the user, best first, each with its reason (see the module docstring)."""
    courses = await uow.catalog.list_courses()
    published = {c.id: c for c in courses}
    excluded = await excluded_courses(uow, user_id, now)
    stored = await uow.recommendations.stored(user_id, limit=TOP_N)
    items: list[Recommendation] = list(stored.items) if stored is not None else []
    history: list[Interaction] | None = None
    if not items and live is not None and live.ready:
        live.sync(courses, now)  # a course published or edited since the fit is known to it at once
        history = await uow.recommendations.history(user_id, since=now - HISTORY, limit=HISTORY_LIMIT)
        queries = await uow.recommendations.queries(user_id, since=now - QUERIES, limit=QUERY_LIMIT)
        items = live.recommend(user_id, n, exclude=excluded, history=history, queries=queries, now=now)
    picks = await _picks(uow, items, published, excluded, n)
    if len(picks) < n and stored is not None and stored.fallback:
        # Too few personal ones: pad with the popular and new courses the user has not touched yet.
        if history is None:
            history = await uow.recommendations.history(user_id, since=now - HISTORY, limit=HISTORY_LIMIT)
        skip = excluded | {i.course_id for i in history} | {p.course.id for p in picks}
        picks += await _picks(uow, stored.fallback, published, skip, n - len(picks))
    return picks


async def _picks(
    uow: UnitOfWork,
    items: Iterable[Recommendation],
    published: dict[int, Course],
    skip: Collection[int],
    n: int,
) -> list[Pick]:
    out: list[Pick] = []
    seen: set[int] = set()
    for rec in items:
        course = published.get(rec.course_id)
        if course is None or rec.course_id in skip or rec.course_id in seen:
            continue
        seen.add(rec.course_id)
        anchor_id = rec.reason.anchor_course_id
        anchor = None
        if anchor_id is not None:
            anchor = published.get(anchor_id) or await uow.catalog.get_course_by_id(anchor_id)
        out.append(Pick(course, rec.reason, anchor, rec.score))
        if len(out) >= n:
            break
    return out


def course_doc(course: Course, created_at: datetime | None = None) -> CourseDoc:
    """What the recommender knows of a course (its text and category), as :class:`core.recommend.CourseDoc`."""
    return CourseDoc(
        id=course.id,
        slug=course.slug,
        title=course.title,
        summary=course.summary,
        description=course.description,
        category=course.category,
        tags=tuple(course.tags),
        language=course.language,
        created_at=created_at,
    )


def _fingerprint(c: Course | CourseDoc) -> str:
    text = "\x1f".join([c.slug, c.title, c.summary, c.description, c.category, c.language, *c.tags])
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class LiveModel:
    """The fitted recommender this process answers from when a user has no precomputed rows yet.

    A refit builds a new model off the event loop and :meth:`install` swaps it in whole (one reference
    assignment), so a request never sees a half-fitted model. Between refits, :meth:`sync` keeps its
    courses in step with the catalog (an import, a publish, an unpublish) through the model's
    ``upsert_course`` / ``remove_course``, touching only courses whose text changed. Like the search
    index (:mod:`core.catalog_search`), it follows the storage's catalog cache: the same list object
    means nothing changed (an identity check), a reloaded list has new course objects whose texts are
    compared with what the model holds. Everything runs on the event loop's thread, so no lock is needed.
    """

    def __init__(self) -> None:
        self.model: Recommender | None = None
        self.run_id: int | None = None
        self.busy = False  # a fit for this holder is under way (a refit, or a load): don't start another
        self._known: dict[int, tuple[str, datetime | None]] = {}  # course id -> (text fingerprint, created_at)
        self._objects: dict[int, Course] = {}  # course id -> the course object last compared
        self._synced: Sequence[Course] | None = None  # the course list last synced (identity)

    @property
    def ready(self) -> bool:
        return self.model is not None

    def install(self, model: Recommender, run_id: int | None, docs: Iterable[CourseDoc]) -> None:
        """Serve from ``model`` (fitted on ``docs``, for refit ``run_id``) from now on."""
        self._known = {d.id: (_fingerprint(d), d.created_at) for d in docs}
        self._objects, self._synced = {}, None
        self.model, self.run_id = model, run_id

    def sync(self, courses: Sequence[Course], now: datetime) -> tuple[int, int]:
        """Bring the model's courses in step with the published ``courses``; (upserted, removed)."""
        model = self.model
        if model is None or courses is self._synced:
            return 0, 0
        upserted = removed = 0
        for course in courses:
            if self._objects.get(course.id) is course:
                continue
            self._objects[course.id] = course
            known = self._known.get(course.id)
            fingerprint = _fingerprint(course)
            if known is not None and known[0] == fingerprint:
                continue
            doc = course_doc(course, known[1] if known is not None else now)  # a new course is new as of now
            model.upsert_course(doc)
            self._known[course.id] = (fingerprint, doc.created_at)
            upserted += 1
        live = {c.id for c in courses}
        for course_id in [cid for cid in self._known if cid not in live]:
            model.remove_course(course_id)
            del self._known[course_id]
            self._objects.pop(course_id, None)
            removed += 1
        self._synced = courses
        return upserted, removed

    def recommend(
        self,
        user_id: int,
        n: int,
        *,
        exclude: Collection[int],
        history: Sequence[Interaction],
        queries: Sequence[str],
        now: datetime,
    ) -> list[Recommendation]:
        """The model's top ``n`` for a user from their ``history`` (empty if no model, or it failed)."""
        model = self.model
        if model is None:
            return []
        try:
            found = model.recommend(
                user_id, n, exclude=tuple(exclude), history=history, queries=tuple(queries), now=now
            )
            return list(found)
        except Exception:  # a model bug must not take /recommend down: the stored lists still answer
            log.exception("the live recommender failed for user %s", user_id)
            return []


# ------------------------------------------------------------------------------------ admin stats


async def push_stats(uow: UnitOfWork, actor: User, *, limit: int = 5) -> list[tuple[Campaign, PushReport]]:
    """The latest recommendation pushes (newest first) with what they showed, clicks and attributed sales.

    Admins only: a push goes to every learner, so its numbers are the platform's, not a creator's.
    """
    if not actor.has_role(Role.ADMIN):
        raise PermissionDenied("recommend.stats_admin_only")
    campaigns = [c for c in await uow.deliveries.campaigns() if c.kind is CampaignKind.RECOMMENDATION]
    campaigns.sort(key=lambda c: c.id, reverse=True)
    return [(c, await uow.recommendations.push_report(c.id)) for c in campaigns[:limit]]
