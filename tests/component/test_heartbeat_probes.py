"""The heartbeat probes against real servers on loopback, port 0: a listening socket, an
asyncio HTTP server that answers what each test asks (or nothing), grpc.aio servers with the
public grpc.health.v1 servicer. Probes must give a verdict, never raise, for a failing
endpoint; gRPC channels must be reused, recover, and be closed when no longer needed."""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health as health_sync
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from tc.server.heartbeat.probes import Prober
from tests.support import wait_until

LOOPBACK = "127.0.0.1"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def prober() -> AsyncIterator[Prober]:
    p = Prober()
    yield p
    await p.close()


def listening(host: str = LOOPBACK) -> socket.socket:
    """A socket that accepts connections: the kernel completes the handshake, nobody reads."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    sock.bind((host, 0))
    sock.listen(16)
    return sock


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = listening()
    yield sock
    sock.close()


def closed_port() -> int:
    """A port nothing listens on: the kernel refuses connections to it."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


def port_of(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) here")


# -- an HTTP server that answers what the test says -------------------------------------------


class _Answer(asyncio.Protocol):
    """One connection: records the request head and answers it (or never does)."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._head = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.append(transport)

    def data_received(self, data: bytes) -> None:
        self._head += data
        if b"\r\n\r\n" not in self._head[-len(data) - 3 :] or self._server.answer is None:
            return
        self._server.requests.append(bytes(self._head))
        self._transport.write(self._server.answer)
        self._transport.close()


class HttpServer:
    """Answers every request with `answer` (None: never answers) and records the heads."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections: list[asyncio.Transport] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str = LOOPBACK) -> HttpServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Answer(self), host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for transport in self.connections:
            transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def answer(status_line: str, body: bytes = b"hello") -> bytes:
    head = f"{status_line}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


@pytest.fixture
async def http_server() -> AsyncIterator[HttpServer]:
    server = await HttpServer(answer("HTTP/1.1 200 OK")).start()
    yield server
    await server.stop()


# -- a gRPC server with the public health servicer ---------------------------------------------


class RecordingHealth(health_aio.HealthServicer):
    """The public servicer, noting the peer of each Check: the client's port tells whether a
    probe came over the same connection as the one before."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[str] = []

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        self.peers.append(context.peer())
        return await super().Check(request, context)


class GrpcServer:
    def __init__(self, *, health: bool = True) -> None:
        self.server = grpc.aio.server()
        self.health = RecordingHealth()
        if health:
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.ports: list[int] = []

    async def start(self, *addresses: str) -> GrpcServer:
        for address in addresses or (f"{LOOPBACK}:0",):
            self.ports.append(self.server.add_insecure_port(address))
        await self.server.start()
        await self.health.set("", SERVING)
        await self.health.set("orders", SERVING)
        return self

    @property
    def port(self) -> int:
        return self.ports[0]

    async def stop(self) -> None:
        await self.server.stop(None)


@pytest.fixture
async def grpc_server() -> AsyncIterator[GrpcServer]:
    server = await GrpcServer().start()
    yield server
    await server.stop()


# -- TCP ---------------------------------------------------------------------------------------


async def test_tcp_connects_to_a_listening_socket(prober: Prober, listener: socket.socket) -> None:
    result = await prober.tcp(LOOPBACK, port_of(listener), 1.0)
    assert result.ok, result
    assert result.error == ""
    assert 0 < result.latency < 1.0


async def test_tcp_is_refused_on_a_closed_port(prober: Prober) -> None:
    result = await prober.tcp(LOOPBACK, closed_port(), 1.0)
    assert not result.ok
    assert result.error == "connection refused"


async def test_tcp_resolves_a_name(prober: Prober, listener: socket.socket) -> None:
    result = await prober.tcp("localhost", port_of(listener), 1.0)
    assert result.ok, result


async def test_a_name_that_does_not_resolve_fails(prober: Prober) -> None:
    result = await prober.tcp("no-such-host.invalid", 80, 2.0)
    assert not result.ok
    assert "no-such-host.invalid" in result.error
    assert "resolv" in result.error


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full queue")
async def test_tcp_times_out_when_the_handshake_never_completes(prober: Prober) -> None:
    # Linux drops SYNs to a listener whose accept queue is full: the handshake hangs.
    with socket.socket() as full, socket.socket() as queued:
        full.bind((LOOPBACK, 0))
        full.listen(0)
        queued.setblocking(False)
        await asyncio.get_running_loop().sock_connect(queued, full.getsockname())
        started = time.monotonic()
        result = await prober.tcp(LOOPBACK, port_of(full), 0.2)
        elapsed = time.monotonic() - started
    assert (result.ok, result.error) == (False, "timed out after 0.2s connecting")
    assert 0.2 <= elapsed < 0.6


@needs_ipv6
async def test_tcp_over_ipv6_loopback(prober: Prober) -> None:
    with listening("::1") as sock:
        port = port_of(sock)
        assert (await prober.tcp("::1", port, 1.0)).ok
    result = await prober.tcp("::1", port, 1.0)
    assert not result.ok
    assert result.error == "connection refused"


# -- HTTP --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_line", "ok", "error"),
    [
        ("HTTP/1.1 200 OK", True, ""),
        ("HTTP/1.1 204 No Content", True, ""),
        ("HTTP/1.1 301 Moved Permanently", True, ""),
        ("HTTP/1.0 302 Found", True, ""),
        ("HTTP/1.1 404 Not Found", False, "HTTP 404 Not Found"),
        ("HTTP/1.1 503 Service Unavailable", False, "HTTP 503 Service Unavailable"),
        ("HTTP/1.1 500", False, "HTTP 500"),
        ("HTTP/1.1 101 Switching Protocols", False, "HTTP 101 Switching Protocols"),
    ],
)
async def test_http_verdict_follows_the_status(
    prober: Prober, http_server: HttpServer, status_line: str, ok: bool, error: str
) -> None:
    http_server.answer = answer(status_line)
    result = await prober.http(LOOPBACK, http_server.port, "/healthz", 1.0)
    assert (result.ok, result.error) == (ok, error)


async def test_http_sends_the_path_and_host_header(prober: Prober, http_server: HttpServer) -> None:
    assert (await prober.http(LOOPBACK, http_server.port, "/ready?deep=1", 1.0)).ok
    (head,) = http_server.requests
    lines = head.decode("ascii").split("\r\n")
    assert lines[0] == "GET /ready?deep=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{http_server.port}" in lines
    assert "Connection: close" in lines
    assert "User-Agent: traffic-controller-heartbeat" in lines


async def test_http_sends_a_request_larger_than_one_write(
    prober: Prober, http_server: HttpServer
) -> None:
    # Twice Linux's default cap on a socket's send buffer (tcp_wmem): it takes several writes.
    path = "/" + "a" * 8_000_000
    assert (await prober.http(LOOPBACK, http_server.port, path, 5.0)).ok
    assert http_server.requests[0].startswith(f"GET {path} HTTP/1.1\r\n".encode())


async def test_http_reads_the_status_line_only(prober: Prober, http_server: HttpServer) -> None:
    # The body never ends (the length promises more): the verdict must not wait for it.
    http_server.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nstart"
    result = await prober.http(LOOPBACK, http_server.port, "/", 1.0)
    assert result.ok, result


async def test_http_status_line_in_pieces(prober: Prober, listener: socket.socket) -> None:
    listener.setblocking(False)
    probe = asyncio.create_task(prober.http(LOOPBACK, port_of(listener), "/", 2.0))
    loop = asyncio.get_running_loop()
    conn, _ = await loop.sock_accept(listener)
    with conn:
        assert (await loop.sock_recv(conn, 4096)).startswith(b"GET / HTTP/1.1")
        await loop.sock_sendall(conn, b"HTTP/1.1 2")
        # Two turns of the loop: the probe's reader runs (and sees the first piece) between.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await loop.sock_sendall(conn, b"00 OK\r\n")
        result = await probe
    assert result.ok, result


async def test_http_times_out_when_the_server_never_answers(prober: Prober) -> None:
    server = await HttpServer(None).start()
    try:
        started = time.monotonic()
        result = await prober.http(LOOPBACK, server.port, "/", 0.2)
        elapsed = time.monotonic() - started
    finally:
        await server.stop()
    assert not result.ok
    assert result.error == "timed out after 0.2s waiting for the status line"
    assert 0.2 <= elapsed < 0.6
    assert 0.2 <= result.latency <= elapsed


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not an HTTP answer: b'SSH-2.0-OpenSSH_9.6\\r\\n'"),
        (b"HTTP/1.1 OK 200\r\n\r\n", "not an HTTP answer: b'HTTP/1.1 OK 200\\r\\n\\r\\n'"),
        (b"HTTP/1.1 200 OK", "not an HTTP answer: b'HTTP/1.1 200 OK'"),  # then closed
        (b"x" * 5000, "not an HTTP answer: b'" + "x" * 32 + "'"),
        (b"", "connection closed without an answer"),
    ],
)
async def test_http_garbage_answers_fail(
    prober: Prober, http_server: HttpServer, reply: bytes, error: str
) -> None:
    http_server.answer = reply
    result = await prober.http(LOOPBACK, http_server.port, "/", 1.0)
    assert (result.ok, result.error) == (False, error)


async def test_http_is_refused_on_a_closed_port(prober: Prober) -> None:
    result = await prober.http(LOOPBACK, closed_port(), "/", 1.0)
    assert (result.ok, result.error) == (False, "connection refused")


async def test_http_reset_while_waiting_fails(prober: Prober, listener: socket.socket) -> None:
    listener.setblocking(False)
    probe = asyncio.create_task(prober.http(LOOPBACK, port_of(listener), "/", 2.0))
    loop = asyncio.get_running_loop()
    conn, _ = await loop.sock_accept(listener)
    assert (await loop.sock_recv(conn, 4096)).startswith(b"GET / HTTP/1.1")
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # linger 0: a reset, not a FIN
    result = await probe
    assert (result.ok, result.error) == (
        False,
        "connection reset while waiting for the status line",
    )


async def test_http_resolves_a_name(prober: Prober, http_server: HttpServer) -> None:
    assert (await prober.http("localhost", http_server.port, "/", 1.0)).ok
    assert f"Host: localhost:{http_server.port}".encode() in http_server.requests[0]


async def test_a_path_tc_ir_would_refuse_is_a_programming_error(prober: Prober) -> None:
    for path in ("healthz", "/a b", "/x\r\nX-Injected: 1"):
        with pytest.raises(ValueError, match="path"):
            await prober.http(LOOPBACK, 80, path, 1.0)


@needs_ipv6
async def test_http_over_ipv6_loopback(prober: Prober) -> None:
    server = await HttpServer(answer("HTTP/1.1 200 OK")).start("::1")
    try:
        assert (await prober.http("::1", server.port, "/healthz", 1.0)).ok
    finally:
        await server.stop()
    assert f"Host: [::1]:{server.port}".encode() in server.requests[0]


# -- gRPC --------------------------------------------------------------------------------------


async def test_grpc_follows_the_serving_status_on_one_channel(
    prober: Prober, grpc_server: GrpcServer
) -> None:
    port = grpc_server.port
    assert (await prober.grpc(LOOPBACK, port, "", 1.0)).ok
    await grpc_server.health.set("", NOT_SERVING)
    result = await prober.grpc(LOOPBACK, port, "", 1.0)
    assert (result.ok, result.error) == (False, "grpc health NOT_SERVING")
    await grpc_server.health.set("", SERVING)
    assert (await prober.grpc(LOOPBACK, port, "", 1.0)).ok
    # One connection throughout: the channel was kept, not redialled.
    assert len(grpc_server.health.peers) == 3
    assert len(set(grpc_server.health.peers)) == 1
    assert prober.channels == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (health_pb2.HealthCheckResponse.NOT_SERVING, "grpc health NOT_SERVING"),
        (health_pb2.HealthCheckResponse.SERVICE_UNKNOWN, "grpc health SERVICE_UNKNOWN"),
        (health_pb2.HealthCheckResponse.UNKNOWN, "grpc health UNKNOWN"),
        (9, "grpc health status 9"),  # newer than the stubs
    ],
)
async def test_grpc_fails_on_anything_but_serving(
    prober: Prober, grpc_server: GrpcServer, status: int, error: str
) -> None:
    await grpc_server.health.set("", status)
    result = await prober.grpc(LOOPBACK, grpc_server.port, "", 1.0)
    assert (result.ok, result.error) == (False, error)


async def test_grpc_checks_the_named_service(prober: Prober, grpc_server: GrpcServer) -> None:
    assert (await prober.grpc(LOOPBACK, grpc_server.port, "orders", 1.0)).ok
    await grpc_server.health.set("orders", NOT_SERVING)
    result = await prober.grpc(LOOPBACK, grpc_server.port, "orders", 1.0)
    assert result.error == "grpc health NOT_SERVING"
    assert (await prober.grpc(LOOPBACK, grpc_server.port, "", 1.0)).ok


async def test_grpc_unknown_service_fails(prober: Prober, grpc_server: GrpcServer) -> None:
    result = await prober.grpc(LOOPBACK, grpc_server.port, "billing", 1.0)
    assert not result.ok
    assert result.error == "grpc health: service 'billing' unknown (NOT_FOUND)"
    assert prober.channels == 1  # an answer: the connection is fine and kept


async def test_grpc_without_the_health_service_fails(prober: Prober) -> None:
    server = await GrpcServer(health=False).start()
    try:
        result = await prober.grpc(LOOPBACK, server.port, "", 1.0)
    finally:
        await server.stop()
    assert not result.ok
    assert "UNIMPLEMENTED" in result.error


async def test_grpc_refused_then_back_is_seen_at_once(prober: Prober) -> None:
    port = closed_port()
    result = await prober.grpc(LOOPBACK, port, "", 1.0)
    assert (result.ok, result.error) == (False, "connection refused (grpc UNAVAILABLE)")
    assert prober.channels == 0  # dropped: its reconnect backoff would hide a comeback
    server = await GrpcServer().start(f"{LOOPBACK}:{port}")
    try:
        result = await prober.grpc(LOOPBACK, port, "", 1.0)
    finally:
        await server.stop()
    assert result.ok, result
    assert result.latency < 0.5


async def test_grpc_times_out_when_the_server_never_answers(
    prober: Prober, listener: socket.socket
) -> None:
    started = time.monotonic()
    result = await prober.grpc(LOOPBACK, port_of(listener), "", 0.2)
    elapsed = time.monotonic() - started
    assert not result.ok
    assert result.error.startswith("timed out after 0.2s")
    assert 0.2 <= elapsed < 0.6
    assert prober.channels == 0


async def test_forget_drops_the_channel(prober: Prober, grpc_server: GrpcServer) -> None:
    for _ in range(3):
        assert (await prober.grpc(LOOPBACK, grpc_server.port, "", 1.0)).ok
    assert prober.channels == 1
    prober.forget(LOOPBACK, grpc_server.port)
    prober.forget(LOOPBACK, grpc_server.port)  # twice, or never probed: nothing to do
    prober.forget(LOOPBACK, closed_port())
    assert prober.channels == 0
    assert (await prober.grpc(LOOPBACK, grpc_server.port, "", 1.0)).ok
    first, *_, last = grpc_server.health.peers
    assert first != last  # a new connection after forget


async def test_forget_during_a_probe_gives_a_verdict(
    prober: Prober, listener: socket.socket
) -> None:
    port = port_of(listener)
    probe = asyncio.create_task(prober.grpc(LOOPBACK, port, "", 5.0))
    await wait_until(lambda: prober.channels == 1, what="the probe's channel")
    prober.forget(LOOPBACK, port)
    result = await asyncio.wait_for(probe, 2.0)
    assert (result.ok, result.error) == (False, "probe abandoned: channel closed")


async def test_cancelling_a_probe_still_cancels_it(prober: Prober, listener: socket.socket) -> None:
    probe = asyncio.create_task(prober.grpc(LOOPBACK, port_of(listener), "", 5.0))
    await wait_until(lambda: prober.channels == 1, what="the probe's channel")
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe


async def test_the_least_recently_used_channel_is_evicted() -> None:
    server = await GrpcServer().start(*[f"{LOOPBACK}:0"] * 3)
    prober = Prober(max_channels=2)
    a, b, c = server.ports
    try:
        for port in (a, b, a, c):  # c evicts b, the least recently used
            assert (await prober.grpc(LOOPBACK, port, "", 1.0)).ok
        assert prober.channels == 2
        for port in (a, b):
            assert (await prober.grpc(LOOPBACK, port, "", 1.0)).ok
    finally:
        await prober.close()
        await server.stop()
    peers = server.health.peers
    assert peers[4] == peers[0]  # a kept its connection
    assert peers[5] != peers[1]  # b was redialled


async def test_close_leaves_nothing_running() -> None:
    # A thread-pool server: it runs no asyncio tasks, so every task left would be the prober's.
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    health = health_sync.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    ports = [server.add_insecure_port(f"{LOOPBACK}:0") for _ in range(2)]
    server.start()
    prober = Prober()
    try:
        for port in ports:
            assert (await prober.grpc(LOOPBACK, port, "", 1.0)).ok
        prober.forget(LOOPBACK, ports[1])
        assert len(asyncio.all_tasks()) == 2  # this test and the forgotten channel's close
        await prober.close()
        await prober.close()  # idempotent
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert prober.channels == 0
        with pytest.raises(RuntimeError, match="closed"):
            await prober.grpc(LOOPBACK, ports[0], "", 1.0)
    finally:
        server.stop(None).wait()
