"""The start-up handshake between a plugin process and the supervisor that started it.

A plugin learns its instance id, listen address and settings from environment variables,
and announces where it really listens with one line on stdout, so plugins in any language
fit (the same idea as HashiCorp go-plugin's handshake line). Both sides use this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ENV_INSTANCE = "TC_PLUGIN_INSTANCE"
ENV_LISTEN = "TC_PLUGIN_LISTEN"
ENV_SETTINGS = "TC_PLUGIN_SETTINGS"
ENV_PLUGIN_NAME = "TC_PLUGIN_NAME"
# mTLS between controller and plugin (optional): the instance's certificate and key, and
# the CA the controller's client certificate must chain to. Paths, never the keys.
ENV_TLS_CERT = "TC_PLUGIN_TLS_CERT"
ENV_TLS_KEY = "TC_PLUGIN_TLS_KEY"
ENV_TLS_CA = "TC_PLUGIN_TLS_CA"

MAGIC = "TC-PLUGIN"
PROTOCOL_VERSION = 1


class HandshakeError(ValueError):
    """The line a plugin printed is not a handshake this controller understands."""


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a plugin announces: the protocol version and the gRPC address it listens on."""

    address: str
    version: int = PROTOCOL_VERSION

    def line(self) -> str:
        return f"{MAGIC}|{self.version}|grpc|{self.address}"


def parse_line(line: str) -> Handshake | None:
    """Returns the handshake in `line`, None for an ordinary log line, or raises."""
    line = line.strip()
    if not line.startswith(MAGIC + "|"):
        return None
    parts = line.split("|")
    if len(parts) != 4 or parts[2] != "grpc":
        raise HandshakeError(f"malformed handshake line {line!r}")
    try:
        version = int(parts[1])
    except ValueError as exc:
        raise HandshakeError(f"malformed protocol version in {line!r}") from exc
    if version != PROTOCOL_VERSION:
        raise HandshakeError(
            f"plugin speaks handshake protocol {version}, controller speaks {PROTOCOL_VERSION}"
        )
    if not parts[3] or ":" not in parts[3]:
        raise HandshakeError(f"handshake names no host:port: {line!r}")
    return Handshake(address=parts[3], version=version)


def encode_settings(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def decode_settings(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise HandshakeError(f"{ENV_SETTINGS} must hold a JSON object")
    return value
