"""The in-process user cache: fresh reads only, and no stale copy put back after an invalidation."""

from __future__ import annotations

from datetime import UTC, datetime

from core.users import Ref, Role, User
from storage.user_cache import UserCache

REF = Ref("telegram", "1")
ANN = User(1, "code1234", Role.LEARNER, "en", "UTC", datetime(2026, 1, 1, tzinfo=UTC))


def test_a_cached_user_expires_after_the_ttl() -> None:
    now = [0.0]
    cache = UserCache(ttl=60, clock=lambda: now[0])
    cache.put(REF, ANN, cache.generation)
    assert cache.get(REF) == ANN
    now[0] = 61
    assert cache.get(REF) is None


def test_a_reader_that_loaded_before_an_invalidation_cannot_put_its_copy_back() -> None:
    cache = UserCache()
    generation = cache.generation  # a reader starts loading Ann
    cache.invalidate()  # meanwhile a commit changed her language
    cache.put(REF, ANN, generation)
    assert cache.get(REF) is None


def test_the_cache_is_bounded() -> None:
    cache = UserCache(max_size=2)
    for i in range(3):
        cache.put(Ref("telegram", str(i)), ANN, cache.generation)
    assert cache.get(Ref("telegram", "0")) is None and cache.get(Ref("telegram", "2")) == ANN
