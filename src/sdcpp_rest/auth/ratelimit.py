"""Failed-login limiting per username and per client address (sliding one-minute window, in memory)."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque

WINDOW_SECONDS = 60.0


class LoginRateLimiter:
    def __init__(self, attempts_per_window: int) -> None:
        self._limit = attempts_per_window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        entries = self._failures[key]
        while entries and now - entries[0] >= WINDOW_SECONDS:
            entries.popleft()
        return entries

    def retry_after(self, *keys: str) -> int:
        """Seconds until another attempt is allowed for all of `keys` (0 = allowed now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                entries = self._prune(key, now)
                if len(entries) >= self._limit:
                    wait = max(wait, WINDOW_SECONDS - (now - entries[0]))
        return math.ceil(wait)

    def record_failure(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._prune(key, now).append(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
