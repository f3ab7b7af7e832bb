"""Numeric limits shared by the intent kinds: ports, DNS TTLs and uint32 counters.

Fields that are 0 on the wire when unset are None or a default in the IR, so what is
left out of range here is out of range on the wire too; the messages say which end.
"""

from __future__ import annotations

MAX_PORT = 65535
MAX_UINT32 = 2**32 - 1
MAX_TTL = 2**31 - 1  # RFC 2181 section 8
DEFAULT_TTL = 300


def port_problem(number: int) -> str | None:
    """A port that must be set: 1..65535."""
    return None if 1 <= number <= MAX_PORT else f"must be 1..{MAX_PORT}"


def optional_port_problem(number: int | None) -> str | None:
    """A port where the wire's 0 (None here) means "the default port"."""
    return None if number is None else positive_problem(number, MAX_PORT)


def positive_problem(value: int, maximum: int = MAX_UINT32) -> str | None:
    """A count or TTL whose wire 0 means "the default": 1..maximum once filled in."""
    if 1 <= value <= maximum:
        return None
    return f"must be at most {maximum}" if value > maximum else "must be at least 1"
