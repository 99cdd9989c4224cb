"""The failed-login limiter on its own, with a clock the test moves (the window is a minute)."""

from __future__ import annotations

from sdcpp_rest.auth.ratelimit import WINDOW_SECONDS, LoginRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limiter(limit: int = 3, max_entries: int = 10_000) -> tuple[LoginRateLimiter, Clock]:
    clock = Clock()
    return LoginRateLimiter(limit, max_entries=max_entries, clock=clock), clock


def test_a_source_that_failed_waits_and_a_clean_one_gets_in() -> None:
    limiter, clock = _limiter()
    for _ in range(3):
        assert limiter.retry_after("alice", "10.0.0.1") == 0
        limiter.record_failure("alice", "10.0.0.1")
    assert limiter.retry_after("alice", "10.0.0.1") == WINDOW_SECONDS
    assert limiter.retry_after("bob", "10.0.0.1") == WINDOW_SECONDS  # the source, for anyone
    assert limiter.retry_after("alice", "10.0.0.2") == 0  # the user, from a clean source
    # Under attack: another source gets one failure for this user, then waits.
    limiter.record_failure("alice", "10.0.0.3")
    assert limiter.retry_after("alice", "10.0.0.3") > 0
    assert limiter.retry_after("bob", "10.0.0.3") == 0
    clock.now += WINDOW_SECONDS
    assert limiter.retry_after("alice", "10.0.0.1") == 0


def test_a_success_clears_only_its_own_source_and_user() -> None:
    limiter, _ = _limiter()
    for source in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        limiter.record_failure("alice", source)
    limiter.record_failure("alice", "10.0.0.4")
    limiter.record_success("alice", "10.0.0.4")
    assert limiter.retry_after("alice", "10.0.0.4") == 0
    assert limiter.retry_after("alice", "10.0.0.1") > 0  # the attack from elsewhere is remembered


def test_checks_add_nothing_and_expired_entries_go() -> None:
    limiter, clock = _limiter()
    for i in range(1000):
        limiter.retry_after(f"user-{i}", "10.0.0.1")
    assert len(limiter) == 0
    limiter.record_failure("alice", "10.0.0.1")
    assert len(limiter) == 3  # the source, the user, the pair
    clock.now += WINDOW_SECONDS
    assert len(limiter) == 0


def test_entries_are_capped_oldest_first() -> None:
    limiter, clock = _limiter(max_entries=30)
    for i in range(100):
        clock.now += 0.01
        limiter.record_failure(f"user-{i}", f"10.0.{i}.1")
    assert len(limiter) == 30
    # The newest failures are the ones kept.
    limiter.record_failure("user-99", "10.0.99.1")
    limiter.record_failure("user-99", "10.0.99.1")
    assert limiter.retry_after("user-99", "10.0.99.1") > 0
