"""What every gRPC process of the project has: health, reflection, an address bound and read back.

The controller and every plugin process are built on this, so all of them answer
grpc.health.v1 (overall and per service) and reflection the same way, and all of them
accept port 0 and report the port they really got.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

# 32 MiB: a full Sync of 10,000 intents, or an xDS snapshot, is several MiB.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024

SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
]

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Reconnect quickly to a restarted plugin instead of grpc's default 1 s..120 s backoff.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def new_server(interceptors: Sequence[grpc.aio.ServerInterceptor] = ()) -> grpc.aio.Server:
    """A server with the project's options; `interceptors` (e.g. authentication) see every
    call, health and reflection included, so they decide themselves what stays open."""
    return grpc.aio.server(options=SERVER_OPTIONS, interceptors=list(interceptors) or None)


def add_health_and_reflection(
    server: grpc.aio.Server, service_names: Iterable[str]
) -> health_aio.HealthServicer:
    """Registers grpc.health.v1 and reflection for `service_names` (full names)."""
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
    return health


def bind(
    server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None = None
) -> str:
    """Binds `address` (port 0 allowed), over TLS when `credentials` are given, and returns
    host:port with the real port."""
    host, _, _port = address.rpartition(":")
    if credentials is not None:
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {address}")
    return f"{host}:{port}"


async def set_all(
    health: health_aio.HealthServicer, service_names: Iterable[str], status: int
) -> None:
    """Sets the overall health and every named service's health at once."""
    for name in ["", *service_names]:
        await health.set(name, status)
