"""The dns plugin's settings, checked at start-up, and the sink they select.

A typo in a plugin config (an unknown key, a TTL written as a string) must stop the
instance with a message naming the key, not be ignored until a record comes out wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pydantic

from tc.plugins.dns.sinks.base import Sink
from tc.plugins.sdk.settings import parse_settings

DEFAULT_SINK: dict[str, Any] = {"type": "zonefile", "path": "./var/dns"}

# The owner id is written into ownership TXT records between commas and equals signs.
_OWNER_ID = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$")
_AFFIX = re.compile(r"^[-_a-z0-9]{0,20}$")


class DnsSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)

    owner_id: str = "traffic-controller"
    """Written into every ownership record; two controllers sharing a zone need two ids."""
    ownership_affix: str = ""
    """Prefixed to ownership record names ("a-www" -> "<affix>a-www"), to step around a
    name already in use."""
    zones: tuple[str, ...] = ()
    """The zones updates go to, matched on label boundaries; empty: each intent's own."""
    min_ttl: int = pydantic.Field(default=0, ge=0, le=2_147_483_647)
    """A TTL floor: record sets asking for less get this."""
    dry_run: bool = False
    """Plan and report (intent status, GetState) without writing anything."""
    sink: dict[str, Any] = pydantic.Field(default_factory=lambda: dict(DEFAULT_SINK))

    @pydantic.field_validator("owner_id")
    @classmethod
    def _owner_id(cls, value: str) -> str:
        if not _OWNER_ID.match(value):
            raise ValueError("must be 1-63 letters, digits, '-', '_' or '.', starting alphanumeric")
        return value

    @pydantic.field_validator("ownership_affix")
    @classmethod
    def _affix(cls, value: str) -> str:
        if not _AFFIX.match(value):
            raise ValueError("must be at most 20 of a-z, 0-9, '-' and '_'")
        return value

    @pydantic.field_validator("zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        zones = tuple(z.rstrip(".").lower() for z in value)
        if any(not z for z in zones):
            raise ValueError("the root zone is never updated; name real zones")
        return zones


def parse_plugin_settings(settings: Mapping[str, Any]) -> DnsSettings:
    """DnsSettings from a plugin config's `settings`; ValueError naming the key."""
    data = dict(settings)
    # YAML gives lists; the model is frozen and holds a tuple.
    if isinstance(data.get("zones"), list):
        data["zones"] = tuple(data["zones"])
    return parse_settings(DnsSettings, data, "settings")


def make_sink(settings: Mapping[str, Any]) -> Sink:
    """The sink `settings` selects: {"type": "zonefile", ...} or {"type": "rfc2136", ...}.
    Does no I/O; bad settings raise ValueError naming the key."""
    kind = settings.get("type")
    rest = {k: v for k, v in settings.items() if k != "type"}
    if kind == "zonefile":
        from tc.plugins.dns.sinks.zonefile import ZoneFileSettings, ZoneFileSink

        return ZoneFileSink(parse_settings(ZoneFileSettings, rest, "settings.sink"))
    if kind == "rfc2136":
        from tc.plugins.dns.sinks.rfc2136 import Rfc2136Settings, Rfc2136Sink

        return Rfc2136Sink(parse_settings(Rfc2136Settings, rest, "settings.sink"))
    raise ValueError(f"settings.sink.type: expected 'zonefile' or 'rfc2136', got {kind!r}")
