"""Login attempts, limited per account and per IP address (the `limits` library).

A moving window: at most 5 attempts per account and 30 per address in any minute. The answer
to a limited attempt is the same for an unknown email as for a known one. With REDIS_URL the
counts are shared by every app process; otherwise they live in this process.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

PER_ACCOUNT = parse("5/minute")
PER_ADDRESS = parse("30/minute")


class LoginLimiter:
    def __init__(self, storage_uri: str = "memory://") -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def wait_seconds(self, email: str, address: str) -> int:
        """Record an attempt; 0 if it may go ahead, else how many seconds until one may."""
        checks: list[tuple[RateLimitItem, str, str]] = [
            (PER_ACCOUNT, "account", email.strip().lower()),
            (PER_ADDRESS, "address", address),
        ]
        try:
            for item, kind, key in checks:
                if not self._limiter.test(item, "login", kind, key):
                    reset = self._limiter.get_window_stats(item, "login", kind, key).reset_time
                    return max(1, int(reset - time.time()) + 1)
            for item, kind, key in checks:
                self._limiter.hit(item, "login", kind, key)
        except Exception:  # a limiter that is down must not lock everyone out
            log.exception("login rate limiter unavailable; allowing the attempt")
        return 0
