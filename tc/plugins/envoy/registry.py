"""What each connected proxy has accepted and rejected, as the ADS server saw it.

The server writes here and the plugin reads (GetState, "programmed on 3/3 proxies",
Programmed=False with Envoy's message), so neither needs to know the other. No gRPC here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import NamedTuple


class Nack(NamedTuple):
    version: str
    message: str


@dataclass
class ProxyStatus:
    """One proxy (by node id). `acked[type_url]` is the version of the type the proxy is
    known to hold; `last_nack[type_url]` is the rejection still in force: it is dropped
    once the proxy holds another version of that type."""

    node_id: str
    connected_since: float
    acked: dict[str, str] = field(default_factory=dict)
    last_nack: dict[str, Nack] = field(default_factory=dict)
    streams: int = 0


class ProxyRegistry:
    """Proxies with at least one open ADS stream, by node id."""

    def __init__(self) -> None:
        self._proxies: dict[str, ProxyStatus] = {}
        self._changed = asyncio.Event()

    def _touch(self) -> None:
        # Wake everyone waiting for an ACK, NACK or (dis)connection, then re-arm.
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, timeout: float) -> None:
        """Returns at the next ACK, NACK or (dis)connection, or after `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def connected(self, node_id: str) -> ProxyStatus:
        status = self._proxies.get(node_id)
        if status is None:
            status = self._proxies[node_id] = ProxyStatus(node_id, time.time())
        status.streams += 1
        self._touch()
        return status

    def disconnected(self, node_id: str) -> None:
        status = self._proxies.get(node_id)
        if status is None:
            return
        status.streams -= 1
        if status.streams <= 0:
            del self._proxies[node_id]
        self._touch()

    def ack(self, node_id: str, type_url: str, version: str) -> None:
        """The proxy holds `version` of the type: it ACKed it, or (delta) it ACKed all it
        was sent and nothing it subscribes to changed since."""
        status = self._proxies.get(node_id)
        if status is None:
            return
        nack = status.last_nack.get(type_url)
        if status.acked.get(type_url) == version and (nack is None or nack.version == version):
            return  # nothing new for whoever waits
        status.acked[type_url] = version
        if nack is not None and nack.version != version:
            del status.last_nack[type_url]
        self._touch()

    def nack(self, node_id: str, type_url: str, version: str, message: str) -> None:
        status = self._proxies.get(node_id)
        if status is not None:
            status.last_nack[type_url] = Nack(version, message)
            self._touch()

    def get(self, node_id: str) -> ProxyStatus | None:
        return self._proxies.get(node_id)

    def all(self) -> list[ProxyStatus]:
        return sorted(self._proxies.values(), key=lambda status: status.node_id)
