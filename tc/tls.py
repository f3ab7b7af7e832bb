"""TLS credentials for every gRPC endpoint of the project, and the client side of tokens.

The controller's port, tcctl, a plugin instance's port and the controller's channels to
its plugins all need the same two things: server credentials from a cert, a key and an
optional client CA (mTLS), and channel credentials from a CA and an optional client cert.
This module sits outside tc.server so tc.cli and tc.plugins can use it without crossing the
import layers. Files are read when credentials are built: start-up fails on a missing or
unreadable file instead of at the first handshake. A file's contents never reach a message.

A client sends its bearer token as `authorization` metadata on every call through
`with_bearer_token`: gRPC's own call credentials would refuse a plaintext loopback channel,
where the controller may still require tokens.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import grpc
from pydantic import BaseModel, ConfigDict, model_validator


class TlsConfigError(ValueError):
    """TLS settings that cannot work: a half-given pair or an unreadable file."""


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise TlsConfigError(f"{what} {path} is empty")
    return data


def server_credentials(
    cert_file: Path, key_file: Path, client_ca_file: Path | None = None
) -> grpc.ServerCredentials:
    """TLS for a listening port; with `client_ca_file`, clients must present a cert it signed."""
    cert = _read(cert_file, "TLS certificate")
    key = _read(key_file, "TLS key")
    ca = _read(client_ca_file, "TLS client CA") if client_ca_file is not None else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


def channel_credentials(
    ca_file: Path | None = None, cert_file: Path | None = None, key_file: Path | None = None
) -> grpc.ChannelCredentials:
    """TLS for a channel: trust `ca_file` (the system roots if None); present a client cert
    when `cert_file` and `key_file` are given (mTLS)."""
    if (cert_file is None) != (key_file is None):
        raise TlsConfigError("a client certificate needs both a cert file and a key file")
    ca = _read(ca_file, "TLS CA") if ca_file is not None else None
    cert = _read(cert_file, "TLS client certificate") if cert_file is not None else None
    key = _read(key_file, "TLS client key") if key_file is not None else None
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def server_name_options(server_name: str | None) -> list[tuple[str, str]]:
    """Channel options that check the server cert against `server_name` instead of the
    host dialled: for a cert issued to a DNS name reached by IP, or by a tunnel."""
    return [("grpc.ssl_target_name_override", server_name)] if server_name else []


class TlsFiles(BaseModel):
    """One endpoint's TLS material as settings: its own cert and key, and the CA it trusts
    in its peer. The same shape serves a server (ca = client CA, mTLS) and a client (ca =
    server CA; cert and key = client cert), so plugin mTLS needs no new settings types."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _pairs(self) -> TlsFiles:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self

    def server_credentials(self) -> grpc.ServerCredentials:
        if self.cert_file is None or self.key_file is None:
            raise TlsConfigError("a TLS server needs cert_file and key_file")
        return server_credentials(self.cert_file, self.key_file, self.ca_file)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return channel_credentials(self.ca_file, self.cert_file, self.key_file)


def secure_aio_channel(
    address: str,
    credentials: grpc.ChannelCredentials,
    options: Sequence[tuple[str, object]] = (),
    server_name: str | None = None,
) -> grpc.aio.Channel:
    """An asyncio channel over TLS: what the controller would open to a plugin with mTLS."""
    return grpc.aio.secure_channel(
        address, credentials, options=[*options, *server_name_options(server_name)]
    )


def host_of(address: str) -> str:
    """The host part of a gRPC listen address: `[::1]:50051` -> `::1`, `:50051` -> ``."""
    if address.startswith("unix:") or address.startswith("unix-abstract:"):
        return address
    host, _, _ = address.rpartition(":")
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def is_loopback(address: str) -> bool:
    """Whether a listen address can only be reached from this host.

    Only what binds loopback for certain counts: 127.0.0.0/8, ::1, `localhost`, and Unix
    sockets. Any other name may resolve to a public interface, and an empty host, 0.0.0.0
    or :: bind every interface.
    """
    host = host_of(address)
    if host.startswith("unix:") or host.startswith("unix-abstract:"):
        return True
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- the client side of bearer tokens ----------------------------------------------------------


def read_token_file(path: Path) -> str:
    """The token in `path` (surrounding whitespace dropped), for a `--token-file` flag."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TlsConfigError(f"cannot read token file {path}: {exc.strerror or exc}") from None
    if not token:
        raise TlsConfigError(f"token file {path} is empty")
    return token


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str | bytes]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _BearerToken(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def __repr__(self) -> str:
        return "_BearerToken(***)"

    def _details(self, details: Any) -> Any:
        return _CallDetails(
            details.method,
            details.timeout,
            [*(details.metadata or ()), self._header],
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._details(details), requests)


def with_bearer_token(channel: grpc.Channel, token: str | None) -> grpc.Channel:
    """`channel` sending `authorization: Bearer <token>` on every call (unchanged if None)."""
    if not token:
        return channel
    return grpc.intercept_channel(channel, _BearerToken(token))
