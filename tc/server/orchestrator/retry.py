"""Backoff shared by registration and event delivery, pure so it can be tested exactly.

Many controllers restarting together (a node drain, a rollout) must not hammer a recovering
orchestrator in lock-step, hence jitter; a long outage must not push retries out to hours,
hence the cap.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    "Equal jitter": half the exponential step is kept, so retries never collapse to zero
    and spin, and the other half is random, so clients spread out.
    """
    # The exponent is bounded so a controller retrying for weeks cannot overflow a float.
    step = min(cap, base * 2.0 ** min(max(attempt - 1, 0), 62))
    return step / 2 + rand() * step / 2
