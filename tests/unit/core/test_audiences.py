"""Audience specs and who may address them: the pure rules of core.audiences and core.broadcasts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.audiences import (
    MUTE_BROADCASTS,
    MUTE_RECOMMENDATIONS,
    Audience,
    Scope,
    authorize,
    creator_mute,
    parse,
    parse_channel,
    parse_mute,
)
from core.broadcasts import click_target, message, stars_estimate, tracked_replies
from core.catalog import Course, DripMode, MediaKind, Plan, Price
from core.course_import import CatalogImportError, load_catalog
from core.delivery import Campaign, CampaignKind, CampaignStatus
from core.errors import NotFound, PermissionDenied, UserFacingError
from core.events import Photo
from core.replies import Button, MediaReply, TextReply
from core.users import Ref, Role, User

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _user(uid: int, role: Role) -> User:
    return User(id=uid, ref_code=f"code{uid:04d}", role=role, lang="en", timezone="Asia/Shanghai", created_at=T0)


def _course(slug: str, creator: str | None) -> Course:
    return Course(1, slug, slug.title(), "", "", "", (), "en", Price(), DripMode.ALL, 8, creator=creator)


def _plan(slug: str, creator: str | None) -> Plan:
    return Plan(1, slug, slug.title(), "", 30, True, creator=creator)


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("all", Audience()),
        ("  ALL ", Audience()),
        ("course:python-basics", Audience(course="python-basics")),
        ("plan:all-access", Audience(plan="all-access")),
        ("inactive:30", Audience(inactive_days=30)),
        ("inactive:1", Audience(inactive_days=1)),
        ("inactive:365", Audience(inactive_days=365)),
        ("lang:zh", Audience(lang="zh")),
        ("course:python-basics+lang:zh", Audience(course="python-basics", lang="zh")),
        ("all + lang:en + inactive:7", Audience(inactive_days=7, lang="en")),
        ("lang:en+plan:vip", Audience(plan="vip", lang="en")),
    ],
)
def test_valid_specs_parse(spec: str, expected: Audience) -> None:
    assert parse(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["all", "course:python-basics", "plan:vip+inactive:30+lang:zh", "inactive:14+lang:en", "course:a+inactive:365"],
)
def test_canonical_form_round_trips(spec: str) -> None:
    parsed = parse(spec)
    assert parse(str(parsed)) == parsed
    assert str(parse("lang:zh+course:x")) == "course:x+lang:zh"  # one order, whatever was typed
    assert len(str(Audience(course="a" * 48, inactive_days=365, lang="en"))) <= 128  # fits the campaign column


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ("", "audience.empty"),
        ("   ", "audience.empty"),
        ("everyone", "audience.unknown_term"),
        ("course", "audience.unknown_term"),
        ("teachers:1", "audience.unknown_term"),
        ("lang:zh+", "audience.unknown_term"),
        ("course:Python Basics", "audience.bad_slug"),
        ("course:", "audience.bad_slug"),
        ("course:../etc", "audience.bad_slug"),
        ("plan:" + "x" * 49, "audience.bad_slug"),
        ("inactive:0", "audience.bad_days"),
        ("inactive:366", "audience.bad_days"),
        ("inactive:-3", "audience.bad_days"),
        ("inactive:ten", "audience.bad_days"),
        ("inactive:99999999999", "audience.bad_days"),
        ("lang:fr", "audience.bad_lang"),
        ("lang:", "audience.bad_lang"),
        ("lang:zh+lang:en", "audience.duplicate"),
        ("course:a+course:b", "audience.duplicate"),
        ("course:a+plan:b", "audience.two_targets"),
        ("lang:zh+" * 40 + "all", "audience.too_long"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, key: str) -> None:
    with pytest.raises(UserFacingError) as err:
        parse(spec)
    assert err.value.key == key


def test_channel_filter() -> None:
    assert parse_channel(None) is None
    assert parse_channel("") is None
    assert parse_channel("any") is None
    assert parse_channel(" Telegram ") == "telegram"
    assert parse_channel("wechat") == "wechat"
    assert parse_channel("console") == "console"
    with pytest.raises(UserFacingError) as err:
        parse_channel("sms")
    assert err.value.key == "audience.bad_channel"


def test_mute_scopes() -> None:
    assert parse_mute(MUTE_BROADCASTS) == "broadcasts"
    assert parse_mute(MUTE_RECOMMENDATIONS) == "recommendations"
    assert parse_mute(creator_mute(42)) == "creator:42"
    for bad in ("creator:", "creator:0", "creator:abc", "everything", "creator:1;drop"):
        assert parse_mute(bad) is None
    assert Scope(sender_id=7).mute_scopes == ("broadcasts", "creator:7")
    assert Scope(sender_id=7, kind=CampaignKind.RECOMMENDATION).mute_scopes == ("recommendations", "creator:7")
    assert Scope(sender_id=None, kind=CampaignKind.RECOMMENDATION).mute_scopes == ("recommendations",)


# ---------------------------------------------------------------- authorization

ALICE = Ref("telegram", "111")  # a creator
BOB = "console:bob"  # another creator


def test_learners_may_not_broadcast() -> None:
    with pytest.raises(PermissionDenied) as err:
        authorize(_user(1, Role.LEARNER), [Ref("console", "l")], Audience())
    assert err.value.key == "broadcast.not_allowed"


def test_admins_reach_everyone_and_any_course() -> None:
    admin = _user(1, Role.ADMIN)
    assert authorize(admin, [], Audience()) == Scope(sender_id=1, owner_refs=None)
    scope = authorize(admin, [], Audience(course="b"), course=_course("b", BOB))
    assert scope.owner_refs is None
    assert authorize(admin, [], Audience(plan="p"), plan=_plan("p", None)).owner_refs is None


def test_creators_reach_only_their_followers() -> None:
    creator = _user(2, Role.CREATOR)
    scope = authorize(creator, [ALICE, Ref("console", "alice")], Audience(lang="zh"))
    assert scope == Scope(sender_id=2, owner_refs=frozenset({"telegram:111", "console:alice"}))


def test_creators_name_only_their_own_courses_and_plans() -> None:
    creator = _user(2, Role.CREATOR)
    mine = _course("mine", "telegram:111")
    assert authorize(creator, [ALICE], Audience(course="mine"), course=mine).owner_refs == {"telegram:111"}
    assert authorize(creator, ["telegram:111"], Audience(plan="p"), plan=_plan("p", "telegram:111")).sender_id == 2
    for audience, course, plan, key in (
        (Audience(course="theirs"), _course("theirs", BOB), None, "audience.not_your_course"),
        (Audience(course="nobodys"), _course("nobodys", None), None, "audience.not_your_course"),
        (Audience(plan="theirs"), None, _plan("theirs", BOB), "audience.not_your_plan"),
    ):
        with pytest.raises(PermissionDenied) as err:
            authorize(creator, [ALICE], audience, course=course, plan=plan)
        assert err.value.key == key


def test_unknown_items_are_not_found_for_everyone() -> None:
    for role in (Role.CREATOR, Role.ADMIN):
        with pytest.raises(NotFound) as err:
            authorize(_user(3, role), [ALICE], Audience(course="ghost"), course=None)
        assert err.value.key == "audience.unknown_course"
        with pytest.raises(NotFound):
            authorize(_user(3, role), [ALICE], Audience(plan="ghost"), plan=None)


# ---------------------------------------------------------------- messages, clicks, cost


def _campaign(replies: tuple[TextReply | MediaReply, ...]) -> Campaign:
    return Campaign(
        id=12,
        kind=CampaignKind.BROADCAST,
        status=CampaignStatus.RUNNING,
        creator_id=2,
        audience="all",
        channel=None,
        replies=replies,
        paid=False,
        total=0,
        created_at=T0,
    )


def test_tracked_replies_rewrite_action_buttons_and_keep_links() -> None:
    text = TextReply(
        "*Hi*",
        (
            (Button("Open", "c:python-basics"), Button("Site", url="https://example.com")),
            (Button("Plans", "plans"),),
        ),
        markdown=True,
    )
    campaign = _campaign((text,))
    (tracked,) = tracked_replies(campaign)
    assert isinstance(tracked, TextReply)
    assert tracked.text == "*Hi*" and tracked.markdown
    assert [[b.action or b.url for b in row] for row in tracked.buttons] == [
        ["bc:12.0", "https://example.com"],
        ["bc:12.1"],
    ]
    assert [b.label for row in tracked.buttons for b in row] == ["Open", "Site", "Plans"]
    assert click_target(campaign, 0) == "c:python-basics"
    assert click_target(campaign, 1) == "plans"
    assert click_target(campaign, 2) is None
    assert click_target(campaign, -1) is None
    assert campaign.replies == (text,)  # the stored message is untouched


def test_tracked_replies_leave_replies_without_buttons_alone() -> None:
    replies = (TextReply("plain"),)
    assert tracked_replies(_campaign(replies)) == replies


def test_a_photo_broadcast_tracks_the_buttons_on_the_photo() -> None:
    photo = MediaReply(
        MediaKind.PHOTO,
        "/media/ab.jpg",
        "ab" * 32,
        caption="**Sale**",
        buttons=((Button("Open", "c:python-basics"), Button("Site", url="https://example.com")),),
        markdown=True,
    )
    after = TextReply("more", ((Button("Plans", "plans"),),))
    campaign = _campaign((photo, after))
    tracked_photo, tracked_text = tracked_replies(campaign)
    assert isinstance(tracked_photo, MediaReply) and isinstance(tracked_text, TextReply)
    assert [b.action or b.url for b in tracked_photo.buttons[0]] == ["bc:12.0", "https://example.com"]
    assert tracked_text.buttons[0][0].action == "bc:12.1"  # numbered across replies, in order
    assert (tracked_photo.path, tracked_photo.caption, tracked_photo.markdown) == ("/media/ab.jpg", "**Sale**", True)
    assert click_target(campaign, 0) == "c:python-basics" and click_target(campaign, 1) == "plans"


def test_a_photo_message_is_the_photo_with_its_caption_and_buttons() -> None:
    photo = Photo("/media/cd.png", "cd" * 32)
    rows = ((Button("Go", "c:x"),),)
    assert message("  **News**  ", rows, photo=photo) == MediaReply(
        MediaKind.PHOTO, "/media/cd.png", "cd" * 32, caption="**News**", buttons=rows, markdown=True
    )
    assert message("", photo=photo) == MediaReply(MediaKind.PHOTO, "/media/cd.png", "cd" * 32, markdown=True)
    with pytest.raises(UserFacingError) as err:
        message("x" * 4001, photo=photo)
    assert err.value.key == "broadcast.too_long"


def test_message_checks_text_and_buttons() -> None:
    reply = message("  **News**  ", ((Button("Go", "c:x"),),))
    assert reply == TextReply("**News**", ((Button("Go", "c:x"),),), markdown=True)
    for text, buttons, key in (
        ("   ", (), "broadcast.empty"),
        ("x" * 4001, (), "broadcast.too_long"),
        ("hi", ((Button("Go", "bc:1.0"),),), "broadcast.bad_button"),
        ("hi", ((Button("Go", url="http://plain.example"),),), "broadcast.bad_button"),
        ("hi", ((Button("", "c:x"),),), "broadcast.bad_button"),
        ("hi", tuple((Button("b", "c:x"),) for _ in range(13)), "broadcast.too_many_buttons"),
    ):
        with pytest.raises(UserFacingError) as err:
            message(text, buttons)
        assert err.value.key == key


@pytest.mark.parametrize(("n", "stars"), [(0, 0), (1, 1), (9, 1), (10, 1), (11, 2), (30, 3), (1234, 124), (-5, 0)])
def test_stars_estimate_is_a_tenth_of_a_star_per_telegram_message_rounded_up(n: int, stars: int) -> None:
    assert stars_estimate(n) == stars


# ---------------------------------------------------------------- ownership in the catalog format


def _catalog(root: Path, course_extra: str = "", plan_extra: str = "") -> Path:
    course = root / "demo"
    (course / "lessons").mkdir(parents=True)
    (course / "course.toml").write_text(f'slug = "demo"\ntitle = "Demo"\nlanguage = "en"\n{course_extra}')
    (course / "lessons" / "01-intro.md").write_text('+++\ntitle = "Intro"\nfree = true\n+++\n\nHello.\n')
    (root / "plans.toml").write_text(
        f'[[plan]]\nslug = "vip"\ntitle = "VIP"\nperiod_days = 30\nincludes = ["*"]\n{plan_extra}\n'
        "[plan.price]\nstars = 100\n"
    )
    return root


def test_courses_and_plans_name_their_creator_by_ref(tmp_path: Path) -> None:
    spec = load_catalog(_catalog(tmp_path, 'creator = " telegram:123 "\n', 'creator = "console:alice"'))
    assert spec.courses[0].creator == "telegram:123"
    assert spec.plans[0].creator == "console:alice"
    unowned = load_catalog(_catalog(tmp_path / "plain"))
    assert unowned.courses[0].creator is None and unowned.plans[0].creator is None


def test_a_creator_that_is_not_a_ref_is_an_import_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogImportError) as err:
        load_catalog(_catalog(tmp_path, 'creator = "alice"\n', "creator = 123"))
    found = {(i.file, i.field) for i in err.value.issues}
    assert found == {("demo/course.toml", "creator"), ("plans.toml", "plan[vip].creator")}
    assert "not a REF" in next(i.message for i in err.value.issues if i.file == "demo/course.toml")
    with pytest.raises(CatalogImportError) as err:
        load_catalog(_catalog(tmp_path / "other", 'creator = "telegram:abc"\n'))
    assert [(i.file, i.field) for i in err.value.issues] == [("demo/course.toml", "creator")]
