"""Active probes of the heartbeat monitor: TCP connect, HTTP status line, grpc.health.v1 Check.

The monitor probes 10,000 endpoints every 10 s within a quarter of one CPU core, which leaves
well under 250 µs of CPU per probe. HTTP client libraries, and even asyncio transports and
streams, spend much of that on objects a probe never needs. So a TCP or HTTP probe is one
non-blocking socket driven by selector callbacks that settle one future (the probing task
wakes once), with one timer for the whole deadline. bench/probe_cost.py measures it.

A gRPC probe reuses one grpc.aio channel per endpoint, since an HTTP/2 connection costs far
more to set up than a call on it; the least recently used channel goes past max_channels.
A channel whose transport failed is dropped rather than kept: grpc would redial it with a
backoff of up to two minutes and fail the following probes at once, so an endpoint that came
back would stay out of traffic that long.

A failing endpoint never raises: every failure is a ProbeResult with a short message for
operators. What raises says nothing about the endpoint: bad arguments, and the controller
running out of sockets (a "dead" verdict then would take healthy endpoints out of traffic).
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The verdict of one probe."""

    ok: bool
    latency: float
    """Seconds from the start of the probe to its answer (or failure)."""
    error: str
    """Empty when ok; otherwise a short human message ("connection refused", "HTTP 503")."""


class Prober:
    """Runs probes; keeps what is worth reusing (gRPC channels) between them."""

    def __init__(self, *, max_channels: int = 20000) -> None:
        if max_channels < 1:
            raise ValueError(f"max_channels must be at least 1, not {max_channels}")
        self._max_channels = max_channels
        self._channels: OrderedDict[tuple[str, int], _Held] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- TCP and HTTP -----------------------------------------------------------------------

    async def tcp(self, host: str, port: int, timeout: float) -> ProbeResult:
        """Ok when a TCP connection is established within `timeout`; it is closed at once."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            await _exchange(loop, host, port, None, deadline=start + timeout, timeout=timeout)
        except _Failed as failure:
            return ProbeResult(False, loop.time() - start, str(failure))
        return ProbeResult(True, loop.time() - start, "")

    async def http(self, host: str, port: int, path: str, timeout: float) -> ProbeResult:
        """Ok when `GET path` is answered with a 2xx or 3xx status line within `timeout`;
        the rest of the answer is not read."""
        if _PATH.fullmatch(path) is None:
            raise ValueError(f"HTTP probe path {path!r} is not '/' and visible ASCII")
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            request = _request(host, port, path)
            head = await _exchange(
                loop, host, port, request, deadline=start + timeout, timeout=timeout
            )
        except _Failed as failure:
            return ProbeResult(False, loop.time() - start, str(failure))
        error = _http_error(head)
        return ProbeResult(not error, loop.time() - start, error)

    # -- gRPC -------------------------------------------------------------------------------

    async def grpc(self, host: str, port: int, service_name: str, timeout: float) -> ProbeResult:
        """Ok when grpc.health.v1 Check(service_name) answers SERVING within `timeout`."""
        if self._closed:
            raise RuntimeError("probe on a closed Prober")
        loop = asyncio.get_running_loop()
        start = loop.time()
        key = (host, port)
        held = self._held(key)
        request = health_pb2.HealthCheckRequest(service=service_name)
        try:
            reply = await held.check(request, timeout=timeout)
        except aio.AioRpcError as e:
            if e.code() not in _ANSWERS:
                self._drop(key, held)
            return ProbeResult(False, loop.time() - start, _rpc_error(e, service_name, timeout))
        except asyncio.CancelledError:
            if _being_cancelled():
                raise
            # Not this task: the channel was closed under the call by forget() or eviction.
            return ProbeResult(False, loop.time() - start, "probe abandoned: channel closed")
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return ProbeResult(True, loop.time() - start, "")
        return ProbeResult(False, loop.time() - start, f"grpc health {_status(reply.status)}")

    def forget(self, host: str, port: int) -> None:
        """The endpoint is no longer checked: its channel (if any) is closed in the background."""
        held = self._channels.pop((host, port), None)
        if held is not None:
            self._close_later(held.channel)

    async def close(self) -> None:
        """Closes every channel and awaits every task the Prober started. gRPC probes are
        refused afterwards; TCP and HTTP probes hold nothing and still work."""
        self._closed = True
        while self._channels:
            self._close_later(self._channels.popitem()[1].channel)
        outcomes = await asyncio.gather(*self._closing, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    @property
    def channels(self) -> int:
        """How many gRPC channels are held (one per endpoint probed over gRPC)."""
        return len(self._channels)

    def _held(self, key: tuple[str, int]) -> _Held:
        held = self._channels.get(key)
        if held is not None:
            self._channels.move_to_end(key)
            return held
        while len(self._channels) >= self._max_channels:
            self._close_later(self._channels.popitem(last=False)[1].channel)
        channel = aio.insecure_channel(_target(*key), options=_CHANNEL_OPTIONS)
        held = _Held(channel, health_pb2_grpc.HealthStub(channel).Check)
        self._channels[key] = held
        return held

    def _drop(self, key: tuple[str, int], held: _Held) -> None:
        if self._channels.get(key) is held:
            del self._channels[key]
            self._close_later(held.channel)

    def _close_later(self, channel: aio.Channel) -> None:
        task = asyncio.get_running_loop().create_task(channel.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


# -- gRPC details ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Held:
    channel: aio.Channel
    check: Any
    """The channel's Health.Check multicallable (grpc_health ships no types)."""


_CHANNEL_OPTIONS = (
    # The endpoint itself must answer, not a proxy picked up from the environment.
    ("grpc.enable_http_proxy", 0),
    # A channel made after dropping one must dial afresh, not share the old connection's
    # backoff through the process-wide subchannel pool.
    ("grpc.use_local_subchannel_pool", 1),
    # Bandwidth-delay pings size windows for bulk transfers; a probe moves a few bytes, and the
    # pings cost CPU on both sides (bench/probe_cost.py: some 5-10% of a gRPC probe).
    ("grpc.http2.bdp_probe", 0),
)

# Codes a working server answers with: its connection is fine and worth keeping.
_ANSWERS = frozenset(
    {
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def _target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _status(value: int) -> str:
    try:
        name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(value)
    except ValueError:  # a status newer than these stubs
        return f"status {value}"
    return name


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _rpc_error(e: aio.AioRpcError, service_name: str, timeout: float) -> str:
    code = e.code()
    details = _printable((e.details() or "").strip(), 160)
    if code is grpc.StatusCode.NOT_FOUND:
        return f"grpc health: service {service_name!r} unknown (NOT_FOUND)"
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return "grpc health: the server does not implement grpc.health.v1 (UNIMPLEMENTED)"
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"timed out after {timeout:g}s (grpc DEADLINE_EXCEEDED)"
    if code is grpc.StatusCode.UNAVAILABLE and "Connection refused" in details:
        return "connection refused (grpc UNAVAILABLE)"
    return f"grpc {code.name}: {details}" if details else f"grpc {code.name}"


def _printable(text: str, limit: int) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- TCP and HTTP details ----------------------------------------------------------------------

# As tc.ir accepts: anything else in a request line has to be percent-encoded.
_PATH = re.compile(r"/[\x21-\x7e]*")
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})(?: ([^\r\n]*))?\r?\n")
_STATUS_LINE_MAX = 1024
"""Longer without a line end is not HTTP: stop reading."""
_RECV_SIZE = 2048

_CONNECTING = "connecting"
_SENDING = "sending the request"
_READING = "waiting for the status line"

_ERRNO_MESSAGES = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.EPIPE: "connection closed",
    errno.ETIMEDOUT: "connection timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
}
# The controller's own resources: raised, never a verdict on the endpoint.
_LOCAL_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL}
)


class _Failed(Exception):
    """A failed probe; the message is its ProbeResult's error."""

    def __init__(self, message: str, *, unconnected: bool = False) -> None:
        super().__init__(message)
        self.unconnected = unconnected
        """No connection was made: the next address of a name may do better."""


def _request(host: str, port: int, path: str) -> bytes:
    try:
        name = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise _Failed(f"cannot resolve {host!r}: not a valid host name") from None
    authority = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
    return (
        f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n"
        "User-Agent: traffic-controller-heartbeat\r\nAccept: */*\r\n\r\n"
    ).encode("ascii")


def _http_error(head: bytes) -> str:
    """What is wrong with an answer that starts with `head`; "" for a 2xx or 3xx."""
    if not head:
        return "connection closed without an answer"
    match = _STATUS_LINE.match(head)
    if match is None:
        return f"not an HTTP answer: {head[:32]!r}"
    status = int(match[1])
    if 200 <= status < 400:
        return ""
    reason = _printable((match[2] or b"").decode("latin-1").strip(), 60)
    return f"HTTP {status} {reason}".rstrip()


async def _exchange(
    loop: asyncio.AbstractEventLoop,
    host: str,
    port: int,
    request: bytes | None,
    *,
    deadline: float,
    timeout: float,
) -> bytes:
    """Connects to host:port (each address of a name in turn) and, with a request, returns
    the answer up to the end of its status line."""
    addresses = _literal(host, port) or await _resolve(loop, host, port, deadline, timeout)
    first: _Failed | None = None
    for family, address in addresses:
        try:
            return await _attempt(
                loop, family, address, request, deadline=deadline, timeout=timeout
            )
        except _Failed as failure:
            if not failure.unconnected:
                raise
            first = first or failure
    assert first is not None  # getaddrinfo answers with addresses or raises
    raise first


def _literal(host: str, port: int) -> list[tuple[int, tuple[str, int]]] | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.inet_pton(family, host)
    except OSError:
        return None  # a name, or an address with a zone that getaddrinfo understands
    return [(family, (host, port))]


async def _resolve(
    loop: asyncio.AbstractEventLoop, host: str, port: int, deadline: float, timeout: float
) -> list[tuple[int, Any]]:
    try:
        async with asyncio.timeout_at(deadline):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise _Failed(f"timed out after {timeout:g}s resolving {host!r}") from None
    except socket.gaierror as e:
        raise _Failed(f"cannot resolve {host!r}: {e.strerror}") from None
    except UnicodeError:
        raise _Failed(f"cannot resolve {host!r}: not a valid host name") from None
    return [(family, address) for family, _, _, _, address in infos]


async def _attempt(
    loop: asyncio.AbstractEventLoop,
    family: int,
    address: Any,
    request: bytes | None,
    *,
    deadline: float,
    timeout: float,
) -> bytes:
    try:
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    except OSError as e:
        if e.errno in _LOCAL_ERRNOS:
            raise
        raise _Failed(_describe(e.errno), unconnected=True) from None
    talk = _Talk(loop, sock, request, timeout)
    timer = loop.call_at(deadline, talk.expire)
    try:
        talk.start(address)
        return await talk.done
    finally:
        timer.cancel()
        talk.close()


def _describe(code: int | None) -> str:
    if code is None:
        return "socket error"
    return _ERRNO_MESSAGES.get(code) or os.strerror(code).lower()


class _Talk:
    """One connection of a probe, driven by selector callbacks: connect, then (given a
    request) send it and read up to the end of the status line. Settles `done` once."""

    __slots__ = ("_fd", "_head", "_loop", "_out", "_sock", "_timeout", "_watching", "done", "stage")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        request: bytes | None,
        timeout: float,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._out = request
        self._head = b""
        self._timeout = timeout
        self._watching: str | None = None
        self.stage = _CONNECTING
        self.done: asyncio.Future[bytes] = loop.create_future()

    def start(self, address: Any) -> None:
        code = self._sock.connect_ex(address)
        if code in _LOCAL_ERRNOS:
            raise OSError(code, os.strerror(code))
        if code in (0, errno.EINPROGRESS, errno.EINTR):
            self._watch("w")
        else:
            self._fail(code)

    def expire(self) -> None:
        self._settle(_Failed(f"timed out after {self._timeout:g}s {self.stage}"))

    def close(self) -> None:
        self._watch(None)
        self._sock.close()

    def _on_writable(self) -> None:
        if self.stage is not _CONNECTING:
            self._send()
            return
        code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._fail(code)
        elif self._out is None:
            self._settle(b"")  # a TCP probe: connected is all it asks
        else:
            self.stage = _SENDING
            self._send()

    def _send(self) -> None:
        assert self._out is not None
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(e.errno)
            return
        # A fresh connection takes a whole request at once; a very long path might not.
        self._out = self._out[sent:]
        if not self._out:
            self.stage = _READING
            self._watch("r")

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(e.errno)
            return
        self._head += data
        if not data or b"\n" in data or len(self._head) > _STATUS_LINE_MAX:
            self._settle(self._head)

    def _fail(self, code: int | None) -> None:
        text = _describe(code)
        if self.stage is _CONNECTING:
            self._settle(_Failed(text, unconnected=True))
        else:
            self._settle(_Failed(f"{text} while {self.stage}"))

    def _settle(self, outcome: bytes | _Failed) -> None:
        self._watch(None)
        if self.done.done():
            return
        if isinstance(outcome, _Failed):
            self.done.set_exception(outcome)
        else:
            self.done.set_result(outcome)

    def _watch(self, what: str | None) -> None:
        """Waits for writability ("w": connected, or room to send), readability ("r") or
        nothing (None)."""
        if self._watching == "w":
            self._loop.remove_writer(self._fd)
        elif self._watching == "r":
            self._loop.remove_reader(self._fd)
        self._watching = what
        if what == "w":
            self._loop.add_writer(self._fd, self._on_writable)
        elif what == "r":
            self._loop.add_reader(self._fd, self._on_readable)
