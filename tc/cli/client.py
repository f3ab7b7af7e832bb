"""The gRPC connection to the controller and the mapping of its failures to one-line errors.

Channel creation lives in make_channel() alone so TLS and tokens arrive in one place. The
CLI uses the sync gRPC API: it makes one call at a time and has no event loop to share.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from tc import tls
from tc._proto.tc.v1 import intent_pb2_grpc, lifecycle_pb2_grpc
from tc.cli.errors import EXIT_UNREACHABLE, EXIT_USAGE, CliError

DEFAULT_SERVER = "127.0.0.1:50051"
SERVER_ENV = "TC_SERVER"

RequestT = TypeVar("RequestT", bound=Message)
ResponseT = TypeVar("ResponseT", bound=Message)

# The controller sends messages up to 32 MiB (tc.serving); gRPC's 4 MiB default would turn
# a page of large intents into RESOURCE_EXHAUSTED.
_MAX_RECEIVE_BYTES = 32 * 1024 * 1024

# Upper bound on learning the channel's state after a failed call; gRPC reports it at once.
_STATE_WAIT_SECONDS = 1.0

_PHRASES = {
    grpc.StatusCode.ALREADY_EXISTS: "already exists",
    grpc.StatusCode.ABORTED: "conflict",
    grpc.StatusCode.FAILED_PRECONDITION: "failed precondition",
    grpc.StatusCode.OUT_OF_RANGE: "out of range",
    grpc.StatusCode.PERMISSION_DENIED: "permission denied",
    grpc.StatusCode.UNAUTHENTICATED: "not authenticated",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "the controller is overloaded",
    grpc.StatusCode.UNAVAILABLE: "the controller is unavailable",
    grpc.StatusCode.UNIMPLEMENTED: "not supported by this controller",
    grpc.StatusCode.CANCELLED: "cancelled",
    grpc.StatusCode.INTERNAL: "controller error",
    grpc.StatusCode.UNKNOWN: "controller error",
    grpc.StatusCode.DATA_LOSS: "controller error",
}


@dataclass(frozen=True)
class Security:
    """How tcctl proves itself to the controller: a bearer token, TLS (with a client cert
    for mTLS). Empty: plaintext without a token, as on loopback."""

    token_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None
    tls: bool = False

    @property
    def uses_tls(self) -> bool:
        return self.tls or any((self.ca_file, self.cert_file, self.key_file, self.server_name))


def make_channel(address: str, security: Security | None = None) -> grpc.Channel:
    """The one place a channel to the controller is made."""
    security = security or Security()
    options: list[tuple[str, object]] = [("grpc.max_receive_message_length", _MAX_RECEIVE_BYTES)]
    try:
        if security.uses_tls:
            credentials = tls.channel_credentials(
                security.ca_file, security.cert_file, security.key_file
            )
            options.extend(tls.server_name_options(security.server_name))
            channel = grpc.secure_channel(address, credentials, options=options)
        else:
            channel = grpc.insecure_channel(address, options=options)
        token = tls.read_token_file(security.token_file) if security.token_file else None
    except tls.TlsConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return tls.with_bearer_token(channel, token)


class ControllerClient:
    """A channel to the controller, its stubs, and calls that raise CliError on failure."""

    def __init__(self, address: str, timeout: float, security: Security | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self._channel = make_channel(address, security)
        self.intents = intent_pb2_grpc.IntentServiceStub(self._channel)
        self.lifecycle = lifecycle_pb2_grpc.LifecycleServiceStub(self._channel)

    def __enter__(self) -> ControllerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def call(
        self,
        method: grpc.UnaryUnaryMultiCallable[RequestT, ResponseT],
        request: RequestT,
        subject: str,
    ) -> ResponseT:
        """`method(request)` within the timeout; failures become CliError about `subject`."""
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise self.error(error, subject) from None

    def error(self, error: grpc.RpcError, subject: str) -> CliError:
        """The CliError for a failed call about `subject` (e.g. `intent/web`)."""
        if not isinstance(error, grpc.Call):
            return CliError(f"{subject}: {error}")
        code = error.code()
        details = error.details() or ""
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            if not self._connected():
                reason = (
                    details
                    if code == grpc.StatusCode.UNAVAILABLE
                    else f"no connection within {self.timeout:g}s"
                )
                return CliError(
                    f"cannot reach the controller at {self.address}: {reason}",
                    EXIT_UNREACHABLE,
                    code,
                )
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return CliError(f"{subject}: no answer within {self.timeout:g}s", code=code)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return CliError(f"{subject}: {details}", code=code)
        if code == grpc.StatusCode.NOT_FOUND:
            return CliError(f"{subject} not found", code=code)
        phrase = _PHRASES.get(code, code.name.lower().replace("_", " "))
        message = f"{subject}: {phrase}: {details}" if details else f"{subject}: {phrase}"
        return CliError(message, code=code)

    def _connected(self) -> bool:
        """Whether the channel holds a connection, asked after a call failed.

        Tells a controller that answered UNAVAILABLE itself (draining, store down) from one
        that could not be reached: only the former leaves the channel READY. Asked only on
        failure because a subscription makes close() wait for gRPC's polling thread.
        """
        states: list[grpc.ChannelConnectivity] = []
        known = threading.Event()

        def record(state: grpc.ChannelConnectivity) -> None:
            if not states:
                states.append(state)
                known.set()

        self._channel.subscribe(record, try_to_connect=False)
        try:
            known.wait(_STATE_WAIT_SECONDS)
        finally:
            self._channel.unsubscribe(record)
        return states == [grpc.ChannelConnectivity.READY]
