"""REFs, roles and timezone names: what operators and learners type."""

from __future__ import annotations

import pytest

from core.users import Ref, Role, valid_timezone


@pytest.mark.parametrize(
    "name", ["Asia/Shanghai", "Europe/London", "America/Argentina/Buenos_Aires", "UTC", "Etc/GMT+8"]
)
def test_real_zones_are_valid(name: str) -> None:
    assert valid_timezone(name)


@pytest.mark.parametrize(
    "name", ["Asia", "Europe", "America/Argentina", "", "../../etc/passwd", "/etc/localtime", "Mars/Olympus", "a" * 80]
)
def test_regions_paths_and_nonsense_are_not_zones(name: str) -> None:
    assert not valid_timezone(name)


@pytest.mark.parametrize("text", ["telegram:123", "wechat:o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "console:alice"])
def test_refs_round_trip(text: str) -> None:
    assert str(Ref.parse(text)) == text


@pytest.mark.parametrize("text", ["icq:1", "telegram:abc", "telegram:", "wechat:x", "console:has space", "nocolon"])
def test_bad_refs_are_refused_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="bad REF"):
        Ref.parse(text)


def test_roles_are_ordered() -> None:
    assert Role.parse("Admin") > Role.parse("creator") > Role.parse("learner")
    with pytest.raises(ValueError, match="unknown role"):
        Role.parse("king")
