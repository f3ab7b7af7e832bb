"""Enum names both ways: the short form people type and read (`HTTP`, `READY`) and the full
proto names protojson requires (`PROTOCOL_HTTP`, `INSTANCE_STATE_READY`).

Driven by the enum descriptors so a new enum or value in the protos needs no change here.
"""

from __future__ import annotations

import re

from google.protobuf.descriptor import EnumDescriptor

_UNSPECIFIED = "UNSPECIFIED"


def value_prefix(enum: EnumDescriptor) -> str:
    """The prefix every value of `enum` carries, by the style guide's `<ENUM>_` convention."""
    zero = enum.values_by_number.get(0)
    # The zero value names the prefix exactly, even where it is not the enum name in
    # upper snake case (acronyms, renamed enums); fall back to the convention otherwise.
    if zero is not None and zero.name.endswith("_" + _UNSPECIFIED):
        return zero.name[: -len(_UNSPECIFIED)]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", enum.name).upper() + "_"


def short_name(enum: EnumDescriptor, number: int) -> str:
    """`INSTANCE_STATE_READY` -> `READY`; an unknown number (newer server) prints as is."""
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    prefix = value_prefix(enum)
    if value.name.startswith(prefix) and len(value.name) > len(prefix):
        return value.name[len(prefix) :]
    return value.name


def short_names(enum: EnumDescriptor) -> list[str]:
    """Every value a user may sensibly ask for: all but the zero UNSPECIFIED value."""
    return [
        short_name(enum, value.number)
        for value in enum.values
        if not (value.number == 0 and value.name.endswith(_UNSPECIFIED))
    ]


def full_name(enum: EnumDescriptor, text: str) -> str | None:
    """The proto value name `text` means (`http`, `HTTP`, `PROTOCOL_HTTP`), or None."""
    if text in enum.values_by_name:
        return text
    candidate = re.sub(r"[\s-]+", "_", text.strip()).upper()
    for name in (candidate, value_prefix(enum) + candidate):
        if name in enum.values_by_name:
            return name
    return None
