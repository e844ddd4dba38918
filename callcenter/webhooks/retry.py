"""What happens after a delivery attempt: delivered, tried again later, or dead-lettered."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

# 1 s, 2 s, 4 s ... doubling, at most 10 minutes apart; 12 tries span about 17 minutes.
BASE_SECONDS = 1.0
CAP_SECONDS = 600.0
MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class Backoff:
    base: float = BASE_SECONDS
    cap: float = CAP_SECONDS

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed try: doubling from ``base``,
        never over ``cap``, with up to a fifth taken off at random so that many receivers'
        retries do not arrive in step."""
        raw = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        jitter: float = (rng or random).uniform(0.0, 0.2)
        return raw * (1.0 - jitter)


@dataclass(frozen=True)
class Outcome:
    status: Literal["delivered", "pending", "dead"]
    next_attempt_at: datetime | None = None


def success(http_status: int | None) -> bool:
    return http_status is not None and 200 <= http_status < 300


def after_attempt(
    http_status: int | None,
    attempts: int,
    max_attempts: int,
    now: datetime,
    backoff: Backoff,
    rng: random.Random | None = None,
) -> Outcome:
    """``http_status`` None: no answer (refused, timed out). A 2xx is delivered; anything
    else is tried again until ``max_attempts`` tries were made, then dead-lettered."""
    if success(http_status):
        return Outcome("delivered")
    if attempts >= max_attempts:
        return Outcome("dead")
    return Outcome("pending", now + timedelta(seconds=backoff.delay(attempts, rng)))
