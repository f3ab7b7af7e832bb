"""How the controller reaches its orchestrator, validated before any side effect.

A bad controller name or port only shows up at the orchestrator as a 400 after start-up, in
a retry loop nobody watches; checking EMCO's rules here turns it into a start-up error that
names the field. Built in main() and passed down, like ControllerSettings.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# EMCO's controller name rule (orchestrator/pkg/module/controller validation).
NAME_PATTERN = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
_NAME = re.compile(NAME_PATTERN)
_UNSPECIFIED_HOSTS = {"", "0.0.0.0", "::", "[::]"}


def _http_url(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError(f"{field} must be an http:// or https:// URL, got {value!r}")
    # Paths are appended to it ("/v2/controllers"): a trailing slash would double up.
    return value.rstrip("/")


class OrchestratorSettings(BaseModel):
    """Registration (`url`) and notifications (`sink_url`); with neither, nothing runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Base URL of the orchestrator API, e.g. http://emco-orchestrator:9015; None: no
    # registration.
    url: str | None = None
    name: str = Field(default="traffic-controller", max_length=128)
    description: str = "traffic-controller: service-mesh, load-balancer and DNS intents"
    # What the orchestrator dials. Defaults to the controller's bound gRPC address, which
    # is only right when that is reachable from the orchestrator (not 0.0.0.0).
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    priority: int = Field(default=1, ge=1, le=100)
    request_timeout_seconds: float = Field(default=5.0, gt=0)
    retry_base_seconds: float = Field(default=0.5, gt=0)
    retry_max_seconds: float = Field(default=30.0, gt=0)
    # 0: keep retrying transient failures for as long as the controller runs.
    max_attempts: int = Field(default=0, ge=0)
    deregister_on_stop: bool = False
    deregister_timeout_seconds: float = Field(default=2.0, gt=0)
    # CloudEvents sink (a Knative broker, the orchestrator's event endpoint, ...).
    sink_url: str | None = None
    # CloudEvents `source`; defaults to traffic-controller/<name>.
    source: str | None = Field(default=None, min_length=1)
    queue_size: int = Field(default=1000, ge=1)
    delivery_max_attempts: int = Field(default=5, ge=1)
    # On stop, how long queued events (the draining notice above all) may take to go out.
    flush_timeout_seconds: float = Field(default=2.0, ge=0)

    @field_validator("name")
    @classmethod
    def _emco_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid EMCO controller name: letters, digits, '-', '_' "
                "and '.', starting and ending with a letter or digit"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url("url", value)

    @field_validator("sink_url")
    @classmethod
    def _sink_url(cls, value: str | None) -> str | None:
        return _http_url("sink_url", value)

    @model_validator(mode="after")
    def _backoff_order(self) -> OrchestratorSettings:
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError("retry_max_seconds must be >= retry_base_seconds")
        return self

    @property
    def enabled(self) -> bool:
        return self.url is not None or self.sink_url is not None

    @property
    def event_source(self) -> str:
        return self.source or f"traffic-controller/{self.name}"


def _split(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), port


def advertised(settings: OrchestratorSettings, grpc_address: str) -> tuple[str, int]:
    """(host, port) registered with the orchestrator, from settings or the gRPC address.

    Raises ValueError naming the setting to fix when neither gives a usable answer, so
    main() can refuse to start rather than register an address nobody can dial.
    """
    host_part, port_part = _split(grpc_address) if grpc_address else ("", "")
    host = settings.host or host_part
    if host in _UNSPECIFIED_HOSTS:
        raise ValueError(
            f"orchestrator.host: the gRPC address {grpc_address!r} names no host the "
            "orchestrator can dial; set orchestrator host"
        )
    if settings.port is not None:
        return host, settings.port
    try:
        port = int(port_part)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(
            f"orchestrator.port: the gRPC address {grpc_address!r} has no port in 1..65535 "
            "yet (bind first or set orchestrator port)"
        )
    return host, port
