"""Controller settings: built once in main() from flags and passed down explicitly."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tc.server.orchestrator.settings import OrchestratorSettings
from tc.tls import TlsFiles


class ControllerSettings(BaseModel):
    """Everything the controller process is configured with; no module reads the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grpc_address: str = "127.0.0.1:50051"
    state_dir: Path = Path("./var")
    plugins_dir: Path = Path("config/plugins.d")
    # Reconciler
    workers: int = Field(default=2, ge=1, le=64)
    batch_size: int = Field(default=256, ge=1, le=10_000)
    retry_base_seconds: float = Field(default=0.1, gt=0)
    retry_max_seconds: float = Field(default=30.0, gt=0)
    resync_interval_seconds: float = Field(default=300.0, gt=0)
    plugin_call_timeout_seconds: float = Field(default=30.0, gt=0)
    # Supervisor
    plugin_start_timeout_seconds: float = Field(default=15.0, gt=0)
    restart_base_seconds: float = Field(default=0.05, gt=0)
    restart_max_seconds: float = Field(default=30.0, gt=0)
    crash_loop_restarts: int = Field(default=5, ge=1)
    crash_loop_window_seconds: float = Field(default=60.0, gt=0)
    # Heartbeats: probes in flight at once (10,000 endpoints at 10 s need ~1,000/s, each
    # in flight for its latency, so a few hundred slots is ample; more only on slow links).
    heartbeat_max_in_flight: int = Field(default=512, ge=1, le=100_000)
    # Process
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    store_synchronous: str = Field(default="FULL", pattern="^(FULL|NORMAL)$")
    log_json: bool = False
    log_level: str = "INFO"
    # Security of the gRPC port (REST arrives through it too). With no tokens_file every
    # call is accepted, and with no TLS files the port is plaintext: both are allowed only
    # on loopback unless `insecure` says the operator means it (tc.server.auth).
    tokens_file: Path | None = None
    tokens_reload_seconds: float = Field(default=1.0, gt=0)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    insecure: bool = False
    # mTLS between the controller and every plugin instance (and auxiliary process): each
    # instance serves with cert/key and requires a client cert from ca; the controller
    # presents the same cert/key and checks the instance's against ca and the name below.
    # Note: the envoy plugin's port is also the proxies' ADS port, so proxies then need
    # client certificates from that CA too.
    plugin_tls: TlsFiles | None = None
    plugin_tls_server_name: str = "localhost"
    # Registration with an orchestrator and CloudEvents to a sink; off unless configured.
    orchestrator: OrchestratorSettings = Field(default_factory=OrchestratorSettings)

    @model_validator(mode="after")
    def _tls_pairs(self) -> ControllerSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mTLS) needs tls_cert_file and tls_key_file")
        return self

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def store_path(self) -> Path:
        return self.state_dir / "intents.db"
