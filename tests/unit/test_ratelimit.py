"""RateLimiter: a sliding window per client, limit 0 = unlimited, and a bounded client table."""

from __future__ import annotations

from oneapi.api.ratelimit import RateLimiter


def test_allows_limit_requests_per_window_then_refuses() -> None:
    limiter = RateLimiter(3, 10.0)
    assert [limiter.allow("a", now=t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert limiter.allow("a", now=3.0) is False
    assert limiter.allow("a", now=9.99) is False


def test_window_slides() -> None:
    limiter = RateLimiter(3, 10.0)
    for t in (0.0, 1.0, 2.0):
        assert limiter.allow("a", now=t)
    assert limiter.allow("a", now=10.0) is True  # the hit at 0 has left the window
    assert limiter.allow("a", now=10.5) is False  # 1, 2 and 10 are still in it
    assert limiter.allow("a", now=11.0) is True
    assert limiter.allow("a", now=12.0) is True
    assert limiter.allow("a", now=12.5) is False


def test_refused_requests_do_not_extend_the_block() -> None:
    limiter = RateLimiter(2, 10.0)
    assert limiter.allow("a", now=0.0) and limiter.allow("a", now=0.0)
    for t in range(1, 10):
        assert limiter.allow("a", now=float(t)) is False
    assert limiter.allow("a", now=10.0) is True


def test_clients_are_independent() -> None:
    limiter = RateLimiter(1, 60.0)
    assert limiter.allow("1.1.1.1", now=0.0)
    assert limiter.allow("1.1.1.1", now=1.0) is False
    assert limiter.allow("2.2.2.2", now=1.0)
    assert limiter.allow("", now=1.0)


def test_limit_zero_or_negative_is_unlimited() -> None:
    for limit in (0, -1):
        limiter = RateLimiter(limit, 1.0)
        assert all(limiter.allow("a", now=0.0) for _ in range(10_000))


def test_uses_the_monotonic_clock_by_default() -> None:
    limiter = RateLimiter(2, 3600.0)
    assert limiter.allow("a") and limiter.allow("a")
    assert limiter.allow("a") is False


def test_client_table_is_bounded() -> None:
    limiter = RateLimiter(1, 3600.0, max_clients=100)
    for i in range(5000):
        assert limiter.allow(f"10.0.{i // 256}.{i % 256}", now=0.0)
    assert len(limiter._hits) <= 100


def test_least_recently_seen_client_is_forgotten_first() -> None:
    limiter = RateLimiter(1, 3600.0, max_clients=2)
    assert limiter.allow("a", now=0.0)
    assert limiter.allow("b", now=0.0)
    assert limiter.allow("a", now=1.0) is False  # a is now the most recently seen
    assert limiter.allow("c", now=1.0)  # evicts b, not a
    assert limiter.allow("a", now=2.0) is False  # a still tracked and blocked
    assert limiter.allow("b", now=2.0) is True  # b was forgotten: a fresh budget
