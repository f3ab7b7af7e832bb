"""What a plugin instance knows of the health of service endpoints, newest first.

The controller's heartbeat monitor sends endpoint health three ways: SetEndpointHealth when
it changes, and alongside every Apply and Sync so an instance that renders a service
renders it with the health of the moment. Those messages can cross (an Apply built just
before a change arrives after it), so each service's health carries a revision and the
book keeps the highest it has seen: a late Apply cannot bring a dead endpoint back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tc._proto.tc.v1 import plugin_pb2

Health = Mapping[tuple[str, int], bool]
"""(address, port) -> healthy, ports as ir.ServiceSpec.endpoint_key names them; endpoints
not listed are unknown."""


@dataclass(frozen=True, slots=True)
class _Entry:
    revision: int
    health: dict[tuple[str, int], bool]


_EMPTY: dict[tuple[str, int], bool] = {}


class HealthBook:
    """Endpoint health by service intent name."""

    def __init__(self) -> None:
        self._by_service: dict[str, _Entry] = {}

    def note(
        self, services: Iterable[plugin_pb2.ServiceHealth], *, replace_all: bool = False
    ) -> set[str]:
        """Takes what is newer than what is held; returns the services whose health changed.
        `replace_all`: `services` is the whole set (a Sync), so services not in it have no
        known health any more."""
        changed: set[str] = set()
        seen: set[str] = set()
        for item in services:
            seen.add(item.service)
            held = self._by_service.get(item.service)
            if held is not None and held.revision > item.revision:
                continue
            health = {(e.address, e.port): e.healthy for e in item.endpoints}
            if held is None or held.health != health:
                changed.add(item.service)
            self._by_service[item.service] = _Entry(item.revision, health)
        if replace_all:
            for gone in set(self._by_service) - seen:
                if self._by_service.pop(gone).health:
                    changed.add(gone)
        return changed

    def of(self, service: str) -> Health:
        entry = self._by_service.get(service)
        return entry.health if entry is not None else _EMPTY
