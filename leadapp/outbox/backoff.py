"""How long a failed message waits before its next attempt: exponential, jittered, capped."""

from __future__ import annotations

import random

MAX_DELAY_SECONDS = 6 * 3600.0


def backoff_seconds(
    failures: int, base: float, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """The wait after the n-th failure: base·2^(n-1), jittered to 0.5-1.5 times, at most 6 hours.

    A peer's Retry-After is honoured (never waiting less than it asked) up to the cap.
    """
    exponent = min(max(failures, 1) - 1, 40)
    delay = base * 2**exponent * (rng or random).uniform(0.5, 1.5)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, MAX_DELAY_SECONDS)
