"""Rate limiting matched to each provider's free tier.

A :class:`RateLimiter` holds any number of windows ("60 calls per 60 s", "500 calls per day").
Short windows make the caller wait for the next free slot; a window whose wait would be longer
than ``max_wait`` (a daily quota, typically) raises :class:`RateLimitError` saying when the next
window opens, so an exhausted quota is an error the user can read, never a hang.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

from pipelines.errors import RateLimitError

if TYPE_CHECKING:
    from pipelines.config.sources import ProviderConfig


@dataclass(frozen=True)
class Window:
    """At most ``calls`` requests in any ``seconds`` span."""

    calls: int
    seconds: float

    def describe(self) -> str:
        if self.seconds == 86400:
            return f"daily quota of {self.calls}"
        if self.seconds == 60:
            return f"{self.calls}/min"
        if self.seconds == 1:
            return f"{self.calls}/s"
        return f"{self.calls} per {self.seconds:g} s"


class RateLimiter:
    """Sliding-window limiter shared by the threads of one client.

    ``clock`` and ``sleep`` are injectable so the waits can be observed without waiting."""

    def __init__(self, provider: str, windows: tuple[Window, ...] | list[Window], *,
                 max_wait: float = 120.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.provider = provider
        self.windows = tuple(windows)
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._calls = [deque() for _ in self.windows]
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0

    def _next_free(self, now: float) -> tuple[float, Window | None]:
        """Seconds until every window has a free slot, and the window that binds."""
        wait, binding = max(0.0, self._blocked_until - now), None
        for window, calls in zip(self.windows, self._calls):
            while calls and calls[0] <= now - window.seconds:
                calls.popleft()
            if len(calls) >= window.calls:
                w = calls[0] + window.seconds - now
                if w > wait:
                    wait, binding = w, window
        return wait, binding

    def acquire(self) -> float:
        """Take one slot, waiting if a short window is full; returns the seconds waited.

        Raises RateLimitError when the wait would exceed ``max_wait``."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait, window = self._next_free(now)
                if wait <= 0:
                    for calls in self._calls:
                        calls.append(now)
                    self.waited += waited
                    return waited
                if wait > self.max_wait:
                    at = datetime.fromtimestamp(now + wait, tz=timezone.utc)
                    what = window.describe() if window else "rate limit"
                    raise RateLimitError(
                        f"{self.provider} {what} reached; next window at "
                        f"{at.isoformat(timespec='seconds')} (in {timedelta(seconds=round(wait))})")
            self._sleep(wait)
            waited += wait

    def block_for(self, seconds: float) -> None:
        """The provider said to back off (Retry-After): no call before ``seconds`` from now."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def exhaust(self, window_seconds: float) -> None:
        """The provider reported a quota as spent: fill the window of that length."""
        with self._lock:
            now = self._clock()
            for window, calls in zip(self.windows, self._calls):
                if window.seconds == window_seconds:
                    calls.extend([now] * max(0, window.calls - len(calls)))


def provider_limiter(provider: str, cfg: "ProviderConfig") -> RateLimiter:
    """The limiter of one provider's configured free tier (per second, minute and day)."""
    windows = []
    if cfg.per_second:
        windows.append(Window(cfg.per_second, 1))
    if cfg.per_minute:
        windows.append(Window(cfg.per_minute, 60))
    if cfg.per_day:
        windows.append(Window(cfg.per_day, 86400))
    return RateLimiter(provider, windows, max_wait=cfg.max_wait)
