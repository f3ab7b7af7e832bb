"""What every DNS sink promises, so the plugin is written once for BIND and for zone files.

A sink reads what a zone holds and writes planned changes; it decides nothing. Deciding
what to change, and whether we may (ownership, policies), is the pure planner's job
(tc.plugins.dns.plan). A sink's one duty beyond I/O is to honour a Change's `previous` and
`previous_owner`: a write whose prerequisites no longer hold must fail with
PrerequisiteFailed and change nothing, so an edit made by someone else is never overwritten.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from tc.plugins.dns.records import Change, RecordKey, RecordSet


class SinkError(Exception):
    """A read or write that did not happen.

    `reason` is a short CamelCase word for the intent status (Unreachable, NotAuthorized,
    UnknownZone, Refused, Conflict, Invalid); `retryable` says whether trying again
    unchanged can help (a server down) or not until something changes (a wrong key)."""

    def __init__(self, message: str, *, reason: str, retryable: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable


class PrerequisiteFailed(SinkError):
    """The zone no longer holds what a change's prerequisites assert: nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="Conflict", retryable=False)


class Sink(Protocol):
    async def read(
        self, zone: str, keys: Collection[RecordKey] | None = None
    ) -> dict[RecordKey, RecordSet]:
        """The record sets `zone` holds: all of them when `keys` is None, else only those
        of `keys` that exist. Raises SinkError (UnknownZone, NotAuthorized, Unreachable)."""
        ...

    async def write(self, zone: str, changes: Sequence[Change]) -> None:
        """Applies `changes` (all in `zone`) with their ownership records, all or nothing
        per message; a sink may split a long list into several messages, each atomic.
        Raises PrerequisiteFailed when the zone changed since it was read, SinkError else."""
        ...

    async def close(self) -> None: ...
