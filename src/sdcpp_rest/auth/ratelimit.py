"""Failed-login limiting in memory, over a sliding one-minute window, that nobody can use to lock a
user out.

Three kinds of entries count failures:
- per source address (`addr:`): a source that failed `limit` times in the window waits, whatever
  user it names next, so one address cannot guess passwords across users either;
- per user (`user:`), from every source: once a user has `limit` failures in the window the user is
  under attack, and from then on a source that has failed for this user at all (`pair:`) waits;
- per user and source (`pair:`).

A correct password from a source that has not failed therefore always gets in: an attacker can
slow down only the sources they share. A distributed attacker gets `limit` guesses at a user in all
and then one per new address, instead of `limit` per address. A success clears only its own
`pair:` entry: never the source's (logging into one's own account must not reset the counter for
guessing at others) nor the user's (the attack from elsewhere goes on).

Memory is bounded: a check never creates an entry, entries whose window is empty are dropped, and
at most `max_entries` are kept (the ones whose last failure is oldest go first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
# About 1 kB each: 10 MB at most, however many addresses and user names an attacker uses.
MAX_ENTRIES = 10_000


class LoginRateLimiter:
    def __init__(
        self,
        attempts_per_window: int,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = attempts_per_window
        self._max_entries = max_entries
        self._clock = clock
        # Ordered by the time of each entry's last failure, oldest first: expired entries are at the
        # front, so dropping them costs nothing per request, and so does evicting the oldest.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._failures)

    def retry_after(self, username: str, source: str) -> int:
        """Seconds until `source` may try to log in as `username` again (0: now)."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            wait = self._wait(_source_key(source), self._limit, now)
            if self._count(_user_key(username), now) >= self._limit:
                wait = max(wait, self._wait(_pair_key(username, source), 1, now))
        return math.ceil(wait)

    def record_failure(self, username: str, source: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (_source_key(source), _user_key(username), _pair_key(username, source)):
                entries = self._failures.get(key)
                if entries is None:
                    entries = self._failures[key] = deque(maxlen=self._limit)
                entries.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self._max_entries:
                self._failures.popitem(last=False)

    def record_success(self, username: str, source: str) -> None:
        with self._lock:
            self._failures.pop(_pair_key(username, source), None)

    def _expire(self, now: float) -> None:
        while self._failures:
            key, entries = next(iter(self._failures.items()))
            if now - entries[-1] < WINDOW_SECONDS:
                return
            del self._failures[key]

    def _count(self, key: str, now: float) -> int:
        entries = self._failures.get(key)
        if entries is None:
            return 0
        return sum(1 for at in entries if now - at < WINDOW_SECONDS)

    def _wait(self, key: str, limit: int, now: float) -> float:
        """Seconds until `key` has fewer than `limit` failures in the window."""
        entries = [at for at in self._failures.get(key, ()) if now - at < WINDOW_SECONDS]
        if len(entries) < limit:
            return 0.0
        return WINDOW_SECONDS - (now - entries[-limit])


def _source_key(source: str) -> str:
    return f"addr:{source}"


def _user_key(username: str) -> str:
    return f"user:{username}"


def _pair_key(username: str, source: str) -> str:
    return f"pair:{source}\n{username}"
