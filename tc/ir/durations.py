"""Durations: float seconds in the IR, whole nanoseconds on the wire.

The IR keeps durations as float seconds because that is what every consumer (asyncio,
Envoy's and Istio's renderers, humans reading a diff) wants. The wire type,
google.protobuf.Duration, counts whole nanoseconds, so every IR duration is kept on a
nanosecond and the conversion both ways is exact: a stored intent read back, converted
and written again gives the same bytes, which is what keeps generations stable.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Annotated

from pydantic import AfterValidator

NANOS_PER_SECOND = 1_000_000_000
# google.protobuf.Duration's own range (about 10,000 years).
MAX_SECONDS = 315_576_000_000
MAX_NANOS = MAX_SECONDS * NANOS_PER_SECOND


def seconds_from_nanos(nanos: int) -> float:
    """The float nearest to nanos / 1e9 (int / int division is correctly rounded)."""
    return nanos / NANOS_PER_SECOND


def nanos_from_seconds(seconds: float) -> int:
    """The whole nanoseconds whose float is `seconds`, so the round trip is exact."""
    nanos = round(seconds * NANOS_PER_SECOND)
    if nanos / NANOS_PER_SECOND != seconds:
        # The float product can be off by a few nanoseconds for large values.
        nanos = round(Fraction(seconds) * NANOS_PER_SECOND)
    return nanos


def on_whole_nanos(seconds: float) -> float:
    """Rounds a duration built by code to the nanosecond the wire can carry."""
    if not math.isfinite(seconds) or abs(seconds) > MAX_SECONDS:
        return seconds  # left for duration_problem to report
    return seconds_from_nanos(nanos_from_seconds(seconds))


Seconds = Annotated[float, AfterValidator(on_whole_nanos)]
"""A duration in seconds, kept on a whole nanosecond."""


def duration_problem(seconds: float) -> str | None:
    """A duration that is set must be positive and fit google.protobuf.Duration."""
    if 0 < seconds <= MAX_SECONDS:
        return None
    if math.isnan(seconds):
        return "must be a number of seconds"
    if seconds <= 0:
        return "must be greater than 0"
    return f"must be at most {MAX_SECONDS}s"


def show_seconds(seconds: float) -> str:
    """A duration as people write it in messages: 10s, 0.25s."""
    return f"{seconds:g}s"
