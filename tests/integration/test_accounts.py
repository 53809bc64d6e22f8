"""Accounts (core.accounts): first contact, language, referrals, timezone, roles."""

from __future__ import annotations

import pytest
from support import TestBot

import bot
from core.accounts import ensure_user, grant_role, record_referral, set_language, set_timezone
from core.errors import UserFacingError
from core.events import Sender
from core.users import DEFAULT_TIMEZONE, Ref, Role, User


async def first_contact(
    app: bot.App, name: str, language_code: str | None = "en", channel: str = "console"
) -> tuple[User, bool]:
    async with app.uow() as uow:
        user, created = await ensure_user(
            uow,
            Sender(Ref(channel, name), language_code, display_name=name),
            now=app.clock.now(),
            timezone=DEFAULT_TIMEZONE,
        )
        await uow.commit()
    return user, created


async def reload(app: bot.App, user: User) -> User:
    async with app.uow() as uow:
        found = await uow.users.get(user.id)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("code", "lang"),
    [("zh-hans", "zh"), ("zh-TW", "zh"), ("zh", "zh"), ("en-US", "en"), ("en", "en"), (None, "zh"), ("de", "en")],
)
async def test_language_comes_from_the_messenger_on_first_contact(app: bot.App, code: str | None, lang: str) -> None:
    user, created = await first_contact(app, "someone", code)
    assert created
    assert user.lang == lang
    assert (await reload(app, user)).lang == lang


async def test_first_contact_creates_a_learner_once(app: bot.App) -> None:
    user, created = await first_contact(app, "alice", "en-US")
    assert created
    assert user.role is Role.LEARNER
    assert user.timezone == DEFAULT_TIMEZONE
    assert user.created_at == app.clock.now()
    assert user.referred_by is None
    assert user.display_name == "alice"
    assert len(user.ref_code) == 8
    # Writing again, even with another language code, is the same user, unchanged.
    again, created_again = await first_contact(app, "alice", "zh-hans")
    assert not created_again
    assert again == user
    # Same external id on another channel is another person.
    other, created_other = await first_contact(app, "123456", "en", channel="telegram")
    assert created_other and other.id != user.id and other.ref_code != user.ref_code
    async with app.uow() as uow:
        assert await uow.users.refs(user.id) == [Ref("console", "alice")]
        assert (await uow.users.get_by_ref_code(user.ref_code)) == user


# --------------------------------------------------------------------------- referrals


async def test_referral_is_recorded_on_first_contact_only(app: bot.App) -> None:
    inviter, _ = await first_contact(app, "inviter")
    newcomer, _ = await first_contact(app, "newcomer")
    old_timer, _ = await first_contact(app, "oldtimer")
    async with app.uow() as uow:
        assert await record_referral(uow, newcomer, inviter.ref_code, first_contact=True) is True
        assert await record_referral(uow, old_timer, inviter.ref_code, first_contact=False) is False
        await uow.commit()
    assert (await reload(app, newcomer)).referred_by == inviter.id
    assert (await reload(app, old_timer)).referred_by is None


async def test_referral_is_never_rewritten(app: bot.App) -> None:
    first, _ = await first_contact(app, "first")
    second, _ = await first_contact(app, "second")
    newcomer, _ = await first_contact(app, "newcomer")
    async with app.uow() as uow:
        assert await record_referral(uow, newcomer, first.ref_code, first_contact=True)
        await uow.commit()
    newcomer = await reload(app, newcomer)
    async with app.uow() as uow:
        assert await record_referral(uow, newcomer, second.ref_code, first_contact=True) is False
        await uow.commit()
    assert (await reload(app, newcomer)).referred_by == first.id


async def test_referral_never_to_self(app: bot.App) -> None:
    user, _ = await first_contact(app, "narcissus")
    async with app.uow() as uow:
        assert await record_referral(uow, user, user.ref_code, first_contact=True) is False
        await uow.commit()
    assert (await reload(app, user)).referred_by is None


@pytest.mark.parametrize("code", ["zzzzzzzz", "", "' OR 1=1 --"])
async def test_unknown_referral_code_is_ignored(app: bot.App, code: str) -> None:
    await first_contact(app, "someone-else")
    user, _ = await first_contact(app, "newcomer")
    async with app.uow() as uow:
        assert await record_referral(uow, user, code, first_contact=True) is False
        await uow.commit()
    assert (await reload(app, user)).referred_by is None


async def test_start_with_referral_link_records_the_inviter(demo: bot.App) -> None:
    inviter, _ = await first_contact(demo, "inviter")
    alice = TestBot(demo, user="alice", lang="en")
    out = await alice.say(f"/start r_{inviter.ref_code}")
    assert "Welcome to KnowledgeSea" in out
    async with demo.uow() as uow:
        found = await uow.users.get_by_ref(Ref("console", "alice"))
        assert found is not None
        stored = await uow.users.get(found.id)
    assert stored is not None and stored.referred_by == inviter.id


async def test_start_with_referral_link_later_changes_nothing(demo: bot.App) -> None:
    inviter, _ = await first_contact(demo, "inviter")
    carol = TestBot(demo, user="carol", lang="en")
    await carol.say("/start")
    out = await carol.say(f"/start r_{inviter.ref_code}")
    assert "KnowledgeSea" in out
    async with demo.uow() as uow:
        found = await uow.users.get_by_ref(Ref("console", "carol"))
    assert found is not None and found.referred_by is None


async def test_start_with_unknown_referral_code_still_welcomes(demo: bot.App) -> None:
    dave = TestBot(demo, user="dave", lang="en")
    out = await dave.say("/start r_nosuchcode")
    assert "Welcome to KnowledgeSea" in out
    async with demo.uow() as uow:
        found = await uow.users.get_by_ref(Ref("console", "dave"))
    assert found is not None and found.referred_by is None


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", "../../etc/passwd", "Asia", "GMT+8 Beijing"])
async def test_set_timezone_rejects_unknown_zones(app: bot.App, bad: str) -> None:
    user, _ = await first_contact(app, "alice")
    async with app.uow() as uow:
        with pytest.raises(UserFacingError) as excinfo:
            await set_timezone(uow, user, bad)
        await uow.commit()
    assert excinfo.value.key == "settings.bad_timezone"
    assert excinfo.value.params == {"timezone": bad}
    assert (await reload(app, user)).timezone == DEFAULT_TIMEZONE


async def test_set_timezone_and_language_are_stored(app: bot.App) -> None:
    user, _ = await first_contact(app, "alice", "zh-hans")
    async with app.uow() as uow:
        await set_timezone(uow, user, "America/New_York")
        await set_language(uow, user, "en")
        with pytest.raises(UserFacingError) as excinfo:
            await set_language(uow, user, "fr")
        await uow.commit()
    assert excinfo.value.key == "settings.bad_language"
    stored = await reload(app, user)
    assert (stored.timezone, stored.lang) == ("America/New_York", "en")


async def test_unit_of_work_without_commit_changes_nothing(app: bot.App) -> None:
    user, _ = await first_contact(app, "alice")
    async with app.uow() as uow:
        await set_timezone(uow, user, "Europe/Berlin")
    assert (await reload(app, user)).timezone == DEFAULT_TIMEZONE


# --------------------------------------------------------------------------- roles


async def test_grant_role_creates_promotes_and_demotes(app: bot.App) -> None:
    ref = Ref("telegram", "424242")
    async with app.uow() as uow:
        admin = await grant_role(uow, ref, Role.ADMIN, now=app.clock.now(), timezone=DEFAULT_TIMEZONE)
        await uow.commit()
    assert admin.role is Role.ADMIN
    assert admin.has_role(Role.CREATOR) and admin.has_role(Role.LEARNER)
    assert admin.lang == "zh"  # never wrote: no language code known
    # The same person writing later is that admin, not a new learner.
    same, created = await first_contact(app, "424242", "en", channel="telegram")
    assert not created and same.id == admin.id and same.role is Role.ADMIN
    async with app.uow() as uow:
        creator = await grant_role(uow, ref, Role.CREATOR, now=app.clock.now(), timezone=DEFAULT_TIMEZONE)
        await uow.commit()
    assert creator.id == admin.id
    assert creator.role is Role.CREATOR
    assert creator.has_role(Role.CREATOR) and not creator.has_role(Role.ADMIN)
    assert (await reload(app, admin)).role is Role.CREATOR


async def test_grant_role_to_an_existing_learner(app: bot.App) -> None:
    user, _ = await first_contact(app, "bob")
    async with app.uow() as uow:
        promoted = await grant_role(uow, Ref("console", "bob"), Role.CREATOR, now=app.clock.now(), timezone="UTC")
        await uow.commit()
    assert promoted.id == user.id and promoted.role is Role.CREATOR
    assert promoted.timezone == DEFAULT_TIMEZONE  # existing settings untouched
    assert not user.has_role(Role.CREATOR)


async def test_grant_via_cli_helper_validates_input(app: bot.App) -> None:
    with pytest.raises(bot.CliError):
        await bot.grant(app, "telegram:not-a-number", "admin")
    with pytest.raises(bot.CliError):
        await bot.grant(app, "console:bob", "superuser")
    user = await bot.grant(app, "console:bob", "admin")
    assert user.role is Role.ADMIN
