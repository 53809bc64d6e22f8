"""Broadcasts against the real database (SQLite, or PostgreSQL when DATABASE_URL says so): audiences,
permissions, opt-outs, materialization, steering and click tracking."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, select

import bot
from bots.console import CAPABILITIES
from core.audiences import Audience, Scope, creator_mute, parse, resolve
from core.broadcasts import (
    Draft,
    cancel,
    draft,
    pause,
    queue,
    resume,
    start,
    status,
    tracked_replies,
)
from core.catalog import DripMode, Price
from core.course_spec import CourseSpec, LessonSpec, PlanSpec
from core.delivery import CampaignStatus, DeliveryStatus
from core.errors import NotFound, PermissionDenied, UserFacingError
from core.events import ButtonPress, Sender
from core.money import Money
from core.orders import ItemKind, OrderStatus
from core.replies import Button, TextReply
from core.users import Ref, Role, User
from jobs.broadcast_start import BroadcastStarter
from storage.tables import IdentityRow, UserRow

CREATOR_A = "console:cre-a"
CREATOR_B = "console:cre-b"


def _course(slug: str, creator: str | None) -> CourseSpec:
    lesson = LessonSpec(slug="01-intro", position=0, title="Intro", free=True, body="Hello")
    return CourseSpec(
        slug=slug,
        title=f"Course {slug}",
        summary="",
        description="",
        category="",
        tags=(),
        language="en",
        price=Price(fiat=Money(990, "USD")),
        drip_mode=DripMode.ALL,
        drip_hour=8,
        lessons=(lesson,),
        creator=creator,
    )


def _plan(slug: str, creator: str | None) -> PlanSpec:
    return PlanSpec(slug, f"Plan {slug}", "", 30, True, (), Price(stars=100), creator=creator)


@dataclass
class World:
    app: bot.App
    now: datetime
    users: dict[str, User] = field(default_factory=dict)

    def __getitem__(self, name: str) -> User:
        return self.users[name]

    async def user(
        self, name: str, *, role: Role = Role.LEARNER, lang: str = "en", refs: tuple[str, ...] = (), age: int = 90
    ) -> User:
        """A user created ``age`` days ago, reachable as console:<name> (or the given REFs)."""
        refs = refs or (f"console:{name}",)
        async with self.app.uow() as uow:
            user = await uow.users.create(
                Ref.parse(refs[0]),
                ref_code=f"rc{len(self.users):06d}",
                role=role,
                lang=lang,
                timezone="Asia/Shanghai",
                now=self.now - timedelta(days=age),
                display_name=name,
            )
            await uow.commit()
        for extra in refs[1:]:
            ref = Ref.parse(extra)
            async with self.app.db.sessions() as s:
                s.add(IdentityRow(user_id=user.id, channel=ref.channel, external_id=ref.external_id))
                await s.commit()
        self.users[name] = user
        return user

    async def entitle(self, name: str, *, course: str | None = None, plan: str | None = None, days: int = 0) -> None:
        async with self.app.uow() as uow:
            c = await uow.catalog.get_course(course) if course else None
            p = await uow.catalog.get_plan(plan) if plan else None
            await uow.entitlements.add(
                user_id=self[name].id,
                course_id=c.id if c else None,
                plan_id=p.id if p else None,
                order_id=None,
                starts_at=self.now - timedelta(days=40),
                expires_at=self.now + timedelta(days=days) if plan else None,
            )
            await uow.commit()

    async def paid_order(self, name: str, course: str) -> None:
        async with self.app.uow() as uow:
            c = await uow.catalog.get_course(course)
            assert c is not None
            order = await uow.orders.add(
                code=f"ord{self[name].id:08d}",
                user_id=self[name].id,
                item_kind=ItemKind.COURSE,
                item_id=c.id,
                price=Money(990, "USD"),
                provider="sandbox",
                now=self.now,
                expires_at=self.now + timedelta(minutes=30),
            )
            await uow.orders.save(replace(order, status=OrderStatus.PAID, paid_at=self.now))
            await uow.commit()

    async def studied(self, name: str, course: str, days_ago: int) -> None:
        async with self.app.uow() as uow:
            c = await uow.catalog.get_course(course)
            assert c is not None
            (lesson,) = await uow.catalog.lessons(c.id)
            await uow.progress.mark_delivered(self[name].id, lesson, self.now - timedelta(days=days_ago))
            await uow.commit()

    async def mute(self, name: str, scope: str) -> None:
        async with self.app.uow() as uow:
            await uow.deliveries.mute(self[name].id, scope, self.now)
            await uow.commit()


@pytest.fixture
async def world(app: bot.App) -> World:
    """Two creators, an admin and learners with every kind of tie (see the comments)."""
    w = World(app, app.clock.now())
    async with app.uow() as uow:
        for spec in (_course("ca", CREATOR_A), _course("ca2", CREATOR_A), _course("cb", CREATOR_B)):
            await uow.catalog.upsert_course(spec, {}, w.now)
        await uow.catalog.upsert_plan(_plan("pa", CREATOR_A), w.now)
        await uow.catalog.upsert_plan(_plan("pb", CREATOR_B), w.now)
        await uow.commit()
    await w.user("cre-a", role=Role.CREATOR)
    await w.user("cre-b", role=Role.CREATOR)
    await w.user("boss", role=Role.ADMIN)
    await w.user("buyer", refs=("console:buyer", "telegram:1001"))  # bought ca; telegram preferred
    await w.entitle("buyer", course="ca")
    await w.studied("buyer", "ca", days_ago=1)
    await w.user("zh-buyer-b", lang="zh")  # bought cb (creator B's)
    await w.entitle("zh-buyer-b", course="cb")
    await w.user("member", lang="zh")  # a current member of plan pa
    await w.entitle("member", plan="pa", days=10)
    await w.user("lapsed")  # was a member of pa: a follower of A, not a member now
    await w.entitle("lapsed", plan="pa", days=-5)
    await w.user("previewer")  # read ca's free lesson 40 days ago: a follower, and inactive
    await w.studied("previewer", "ca", days_ago=40)
    await w.user("payer", refs=("wechat:oPayer123456",))  # a paid order for ca (no entitlement row)
    await w.paid_order("payer", "ca")
    await w.user("stranger", lang="zh")  # no tie to anyone
    await w.user("new", age=2)  # joined two days ago: not inactive
    await w.user("muted-all")  # bought ca, muted every broadcast
    await w.entitle("muted-all", course="ca")
    await w.mute("muted-all", "broadcasts")
    await w.user("muted-a")  # bought ca and cb, muted creator A only
    await w.entitle("muted-a", course="ca")
    await w.entitle("muted-a", course="cb")
    await w.mute("muted-a", creator_mute(w["cre-a"].id))
    await w.user("gone", refs=("telegram:1002",))  # bought ca, blocked the bot
    await w.entitle("gone", course="ca")
    async with app.uow() as uow:
        await uow.users.set_unreachable(Ref("telegram", "1002"), w.now)
        await uow.commit()
    return w


async def _scope(w: World, actor: str, spec: str) -> Scope:
    async with w.app.uow() as uow:
        return await resolve(uow, w[actor], parse(spec))


async def _who(w: World, actor: str, spec: str, channel: str | None = None) -> set[str]:
    scope = await _scope(w, actor, spec)
    names = {u.id: n for n, u in w.users.items()}
    async with w.app.uow() as uow:
        count = await uow.audiences.count(parse(spec), channel, scope, w.now)
        found = [
            uid
            for batch in [b async for b in uow.audiences.stream(parse(spec), channel, scope, w.now)]
            for uid, _ in batch
        ]
    assert count == len(found) == len(set(found))
    return {names[uid] for uid in found}


EVERYONE = {
    "cre-a",
    "cre-b",
    "boss",
    "buyer",
    "zh-buyer-b",
    "member",
    "lapsed",
    "previewer",
    "payer",
    "stranger",
    "new",
    "muted-a",
}


async def test_audience_kinds(world: World) -> None:
    w = world
    assert await _who(w, "boss", "all") == EVERYONE  # not muted-all (opted out), not gone (unreachable)
    assert await _who(w, "cre-a", "all") == {"buyer", "member", "lapsed", "previewer", "payer"}
    assert await _who(w, "cre-b", "all") == {"zh-buyer-b", "muted-a"}  # muted A only, not B
    assert await _who(w, "cre-a", "course:ca") == {"buyer"}
    assert await _who(w, "boss", "course:ca") == {"buyer", "muted-a"}  # the admin is not creator A
    assert await _who(w, "cre-a", "plan:pa") == {"member"}
    assert await _who(w, "boss", "lang:zh") == {"zh-buyer-b", "member", "stranger"}
    assert await _who(w, "cre-a", "lang:zh") == {"member"}
    assert await _who(w, "boss", "course:cb+lang:zh") == {"zh-buyer-b"}
    inactive = await _who(w, "boss", "inactive:30")
    assert "previewer" in inactive and "stranger" in inactive
    assert "buyer" not in inactive and "new" not in inactive
    assert await _who(w, "cre-a", "inactive:30") == {"member", "lapsed", "previewer", "payer"}
    assert await _who(w, "boss", "all", "telegram") == {"buyer"}
    assert await _who(w, "boss", "all", "wechat") == {"payer"}
    assert await _who(w, "cre-a", "all", "console") == {"buyer", "member", "lapsed", "previewer"}


async def test_one_preferred_reachable_ref_per_user_and_per_channel_counts(world: World) -> None:
    w = world
    scope = await _scope(w, "cre-a", "all")
    async with w.app.uow() as uow:
        refs = {
            uid: ref
            for batch in [b async for b in uow.audiences.stream(Audience(), None, scope, w.now)]
            for uid, ref in batch
        }
        assert refs[w["buyer"].id] == Ref("telegram", "1001")  # telegram before console
        assert refs[w["payer"].id] == Ref("wechat", "oPayer123456")
        by_channel = await uow.audiences.count_by_channel(Audience(), None, scope, w.now)
        assert by_channel == {"telegram": 1, "wechat": 1, "console": 3}
        everyone = await uow.audiences.count_by_channel(Audience(), None, Scope(w["boss"].id), w.now)
        assert everyone == {"telegram": 1, "wechat": 1, "console": len(EVERYONE) - 2}
        assert await uow.audiences.count_by_channel(Audience(lang="zh"), "console", Scope(None), w.now) == {
            "console": 3
        }
        only_console = await uow.audiences.stream(Audience(), "console", scope, w.now).__anext__()
        assert dict(only_console)[w["buyer"].id] == Ref("console", "buyer")


async def test_creators_cannot_reach_other_creators_audiences_but_admins_can(world: World) -> None:
    w = world
    async with w.app.uow() as uow:
        for spec, key in (("course:cb", "audience.not_your_course"), ("plan:pb", "audience.not_your_plan")):
            with pytest.raises(PermissionDenied) as err:
                await draft(uow, w["cre-a"], "hi", spec, None, False, w.now)
            assert err.value.key == key
        with pytest.raises(NotFound):
            await draft(uow, w["cre-a"], "hi", "course:nope", None, False, w.now)
        with pytest.raises(PermissionDenied):
            await draft(uow, w["buyer"], "hi", "all", None, False, w.now)
        d = await draft(uow, w["boss"], "hi", "course:cb", None, False, w.now)
        assert d.audience == 2 and d.campaign.status is CampaignStatus.DRAFT
        await uow.commit()
    async with w.app.uow() as uow:  # and creator A can't steer the admin's campaign, nor see it
        with pytest.raises(NotFound):
            await status(uow, d.campaign.id, w["cre-a"], w.now)
        with pytest.raises(NotFound):
            await cancel(uow, d.campaign.id, w["cre-b"], w.now)
    with pytest.raises(NotFound):
        await start(w.app.uow, d.campaign.id, w["cre-a"], w.now)


async def test_draft_counts_per_channel_and_estimates_stars_when_paid(world: World) -> None:
    w = world
    async with w.app.uow() as uow:
        d: Draft = await draft(uow, w["cre-a"], "*News*", "all", None, True, w.now, buttons=((Button("Go", "c:ca"),),))
        assert d.audience == 5 and d.per_channel == {"telegram": 1, "wechat": 1, "console": 3}
        assert d.stars == 1
        assert d.campaign.paid and d.campaign.audience == "all" and d.campaign.creator_id == w["cre-a"].id
        assert d.campaign.replies == (TextReply("*News*", ((Button("Go", "c:ca"),),), markdown=True),)
        free = await draft(uow, w["cre-a"], "hi", "all", "console", False, w.now)
        assert free.stars is None and free.audience == 4  # the buyer on console too
        with pytest.raises(UserFacingError) as err:
            await draft(uow, w["cre-a"], "hi", "all", "wechat", True, w.now)
        assert err.value.key == "broadcast.paid_telegram_only"


async def test_start_materializes_rows_once_excluding_muted_and_unreachable(world: World) -> None:
    w = world
    async with w.app.uow() as uow:
        d = await draft(uow, w["boss"], "hi", "course:ca", None, False, w.now)
        await uow.commit()
    cid = d.campaign.id
    assert await start(w.app.uow, cid, w["boss"], w.now) == 2
    assert await start(w.app.uow, cid, w["boss"], w.now) == 2  # idempotent
    async with w.app.uow() as uow:
        campaign = await uow.deliveries.get_campaign(cid)
        assert campaign is not None and campaign.status is CampaignStatus.RUNNING and campaign.total == 2
        assert await uow.deliveries.progress(cid) == {DeliveryStatus.PENDING: 2}
        row = await uow.deliveries.by_key(f"b:{cid}:{w['buyer'].id}")
        assert row is not None and row.ref == Ref("telegram", "1001") and row.user_id == w["buyer"].id
        assert await uow.deliveries.by_key(f"b:{cid}:{w['muted-all'].id}") is None
        assert await uow.deliveries.by_key(f"b:{cid}:{w['gone'].id}") is None


async def test_a_creator_mute_keeps_the_admins_broadcasts_coming(world: World) -> None:
    w = world
    async with w.app.uow() as uow:
        by_a = await draft(uow, w["cre-a"], "hi", "course:ca", None, False, w.now)
        by_admin = await draft(uow, w["boss"], "hi", "course:ca", None, False, w.now)
        await uow.commit()
    await start(w.app.uow, by_a.campaign.id, w["cre-a"], w.now)
    await start(w.app.uow, by_admin.campaign.id, w["boss"], w.now)
    async with w.app.uow() as uow:
        assert await uow.deliveries.by_key(f"b:{by_a.campaign.id}:{w['muted-a'].id}") is None
        assert await uow.deliveries.by_key(f"b:{by_admin.campaign.id}:{w['muted-a'].id}") is not None
        # muting the admin as a sender works the same way
        await uow.deliveries.mute(w["buyer"].id, creator_mute(w["boss"].id), w.now)
        assert await uow.audiences.count(parse("course:ca"), None, Scope(w["boss"].id), w.now) == 1
        assert await uow.audiences.senders(w["muted-a"].id) == [w["boss"].id]


async def test_streams_in_batches_and_an_empty_audience_ends_at_once(app: bot.App) -> None:
    now = app.clock.now()
    async with app.db.sessions() as s:
        await s.execute(
            insert(UserRow),
            [
                {
                    "ref_code": f"bulk{i:08d}",
                    "role": 1,
                    "lang": "en",
                    "timezone": "UTC",
                    "display_name": "",
                    "created_at": now,
                }
                for i in range(2500)
            ],
        )
        await s.commit()
    w = World(app, now)
    admin = await w.user("boss", role=Role.ADMIN)
    async with app.db.sessions() as s:
        ids = (await s.execute(select(UserRow.id).where(UserRow.id != admin.id).order_by(UserRow.id))).scalars().all()
        await s.execute(
            insert(IdentityRow), [{"user_id": uid, "channel": "console", "external_id": f"bulk{uid}"} for uid in ids]
        )
        await s.commit()
    scope = Scope(sender_id=admin.id)
    async with app.uow() as uow:
        batches = [b async for b in uow.audiences.stream(Audience(), None, scope, now, batch=1000)]
        assert [len(b) for b in batches] == [1000, 1000, 501]
        flat = [uid for b in batches for uid, _ in b]
        assert flat == sorted(flat) and len(set(flat)) == 2501
        d = await draft(uow, admin, "hi", "all", None, False, now)
        nobody = await draft(uow, admin, "hi", "lang:zh", None, False, now)
        await uow.commit()
    assert await start(app.uow, d.campaign.id, admin, now) == 2501
    async with app.uow() as uow:
        assert await uow.deliveries.pending_count(d.campaign.id) == 2501
    assert await start(app.uow, nobody.campaign.id, admin, now) == 0
    async with app.uow() as uow:
        empty = await uow.deliveries.get_campaign(nobody.campaign.id)
        assert empty is not None and empty.status is CampaignStatus.DONE and empty.finished_at is not None


async def test_pause_resume_cancel_change_what_the_engine_may_claim(world: World) -> None:
    w = world
    async with w.app.uow() as uow:
        d = await draft(uow, w["cre-a"], "hi", "all", None, False, w.now)
        await uow.commit()
    cid = d.campaign.id
    lease = w.now + timedelta(minutes=5)

    async def claimable() -> int:
        async with w.app.uow() as uow:
            rows = await uow.deliveries.claim("probe", w.now, lease_until=lease, limit=100)
            await uow.rollback()  # only looking
        return len([r for r in rows if r.campaign_id == cid])

    assert await claimable() == 0  # a draft: no rows yet
    await start(w.app.uow, cid, w["cre-a"], w.now)
    assert await claimable() == 5
    async with w.app.uow() as uow:
        with pytest.raises(NotFound):
            await pause(uow, cid, w["cre-b"], w.now)  # not B's
        paused = await pause(uow, cid, w["cre-a"], w.now)
        assert paused.status is CampaignStatus.PAUSED
        await uow.commit()
    assert await claimable() == 0
    async with w.app.uow() as uow:
        await resume(uow, cid, w["boss"], w.now)  # admins steer anyone's campaign
        await uow.commit()
    assert await claimable() == 5
    async with w.app.uow() as uow:  # one row goes out, then the rest is cancelled
        (row, *_) = await uow.deliveries.claim("w1", w.now, lease_until=lease, limit=1)
        await uow.deliveries.record(row.id, "w1", DeliveryStatus.SENT, w.now + timedelta(seconds=10))
        await uow.commit()
    async with w.app.uow() as uow:
        p = await status(uow, cid, w["cre-a"], w.now + timedelta(seconds=10))
        assert (p.sent, p.remaining, p.total) == (1, 4, 5)
        assert p.eta == timedelta(seconds=40)  # 1 sent in 10 s: 4 more take 40 s
        await cancel(uow, cid, w["cre-a"], w.now)
        await uow.commit()
    assert await claimable() == 0
    async with w.app.uow() as uow:
        p = await status(uow, cid, w["cre-a"], w.now)
        assert (p.sent, p.cancelled, p.remaining, p.eta) == (1, 4, 0, None)
        assert p.campaign.status is CampaignStatus.CANCELLED
        with pytest.raises(UserFacingError) as err:
            await resume(uow, cid, w["cre-a"], w.now)
        assert err.value.key == "broadcast.cannot_resume"
    with pytest.raises(UserFacingError):
        await start(w.app.uow, cid, w["cre-a"], w.now)


async def test_click_tracking_counts_once_and_runs_the_original_action(world: World) -> None:
    w = world
    buttons = ((Button("Open", "c:ca"), Button("Site", url="https://example.com")), (Button("Plans", "plans"),))
    async with w.app.uow() as uow:
        d = await draft(uow, w["cre-a"], "New lesson!", "course:ca", None, False, w.now, buttons=buttons)
        await uow.commit()
    cid = d.campaign.id
    await start(w.app.uow, cid, w["cre-a"], w.now)
    async with w.app.uow() as uow:
        campaign = await uow.deliveries.get_campaign(cid)
    assert campaign is not None
    (sent,) = tracked_replies(campaign)
    assert isinstance(sent, TextReply)
    open_action = sent.buttons[0][0].action
    assert open_action == f"bc:{cid}.0"

    async def press(name: str, action: str) -> str:
        sender = Sender(Ref("console", name), "en")
        replies = await w.app.dispatcher.dispatch(ButtonPress(sender, action), CAPABILITIES)
        return "\n".join(r.text for r in replies if isinstance(r, TextReply))

    assert "Course ca" in await press("buyer", open_action)  # the course card, as c:ca shows it
    assert "Course ca" in await press("buyer", open_action)
    assert "Plan pa" in await press("buyer", f"bc:{cid}.1")
    assert "Course ca" in await press("stranger", open_action)  # not a recipient: works, isn't counted
    for forged in (f"bc:{cid}.2", f"bc:{cid}.99", "bc:999999.0", "bc:x.0", f"bc:{cid}", f"bc:{cid}.-1"):
        assert "expired" in await press("buyer", forged)
    async with w.app.uow() as uow:
        assert await uow.deliveries.clicks(cid) == 1  # one person
        p = await status(uow, cid, w["cre-a"], w.now)
        assert p.clicks == 1


# ------------------------------------------------------------------------------ confirming in chat: queue + worker


async def _queued(w: World, actor: str, spec: str) -> int:
    async with w.app.uow() as uow:
        d = await draft(uow, w[actor], "hi", spec, None, False, w.now)
        campaign = await queue(uow, d.campaign.id, w[actor], w.now)
        await uow.commit()
    assert campaign.status is CampaignStatus.STARTING
    return d.campaign.id


async def _campaign(w: World, cid: int) -> tuple[CampaignStatus, int, dict[DeliveryStatus, int]]:
    async with w.app.uow() as uow:
        c = await uow.deliveries.get_campaign(cid)
        assert c is not None
        return c.status, c.total, await uow.deliveries.progress(cid)


async def test_a_queued_broadcast_is_written_by_a_worker_and_then_runs(world: World) -> None:
    w = world
    cid = await _queued(w, "boss", "course:ca")
    assert await _campaign(w, cid) == (CampaignStatus.STARTING, 0, {})  # the chat answer did not wait for rows
    async with w.app.uow() as uow:  # queuing again, or from another chat, changes nothing
        assert (await queue(uow, cid, w["boss"], w.now)).status is CampaignStatus.STARTING
    starter = BroadcastStarter(w.app.uow, w.app.clock, w.app.kv)
    assert await starter.run_once() == 1
    assert await _campaign(w, cid) == (CampaignStatus.RUNNING, 2, {DeliveryStatus.PENDING: 2})
    assert await starter.run_once() == 0  # nothing left to start, nothing doubled
    assert await _campaign(w, cid) == (CampaignStatus.RUNNING, 2, {DeliveryStatus.PENDING: 2})


async def test_a_queued_broadcast_being_written_by_another_worker_is_left_to_it(world: World) -> None:
    w = world
    cid = await _queued(w, "cre-a", "all")
    token = await w.app.kv.acquire_lock(f"broadcast-start:{cid}", 60)  # another worker is writing it
    assert token is not None
    starter = BroadcastStarter(w.app.uow, w.app.clock, w.app.kv)
    assert await starter.run_once() == 0
    assert (await _campaign(w, cid))[0] is CampaignStatus.STARTING
    await w.app.kv.release_lock(f"broadcast-start:{cid}", token)  # it died: its lock is gone
    assert await starter.run_once() == 1
    status_, total, rows = await _campaign(w, cid)
    assert status_ is CampaignStatus.RUNNING and total == rows[DeliveryStatus.PENDING] > 0


async def test_a_queued_broadcast_is_cancelled_if_its_creator_lost_the_right_to_send_it(world: World) -> None:
    w = world
    cid = await _queued(w, "cre-a", "course:ca")
    async with w.app.uow() as uow:
        await uow.users.set_role(w["cre-a"].id, Role.LEARNER)
        await uow.commit()
    assert await BroadcastStarter(w.app.uow, w.app.clock, w.app.kv).run_once() == 0
    assert await _campaign(w, cid) == (CampaignStatus.CANCELLED, 0, {})


async def test_a_queued_broadcast_cancelled_before_the_worker_came_sends_nothing(world: World) -> None:
    w = world
    cid = await _queued(w, "cre-a", "course:ca")
    async with w.app.uow() as uow:
        await cancel(uow, cid, w["cre-a"], w.now)
        await uow.commit()
        with pytest.raises(UserFacingError):
            await queue(uow, cid, w["cre-a"], w.now)
    assert await BroadcastStarter(w.app.uow, w.app.clock, w.app.kv).run_once() == 0
    assert await _campaign(w, cid) == (CampaignStatus.CANCELLED, 0, {})


async def test_only_the_creator_or_an_admin_may_queue_a_draft(world: World) -> None:
    w = world
    async with w.app.uow() as uow:
        d = await draft(uow, w["cre-a"], "hi", "course:ca", None, False, w.now)
        await uow.commit()
        with pytest.raises(NotFound):
            await queue(uow, d.campaign.id, w["cre-b"], w.now)
    assert (await _campaign(w, d.campaign.id))[0] is CampaignStatus.DRAFT
