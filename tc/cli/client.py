"""The gRPC connection to the controller and the mapping of its failures to one-line errors.

Channel creation lives in make_channel() alone so TLS and tokens arrive in one place. The
CLI uses the sync gRPC API: it makes one call at a time and has no event loop to share.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from tc._proto.tc.v1 import intent_pb2_grpc, lifecycle_pb2_grpc
from tc.cli.errors import EXIT_UNREACHABLE, CliError

DEFAULT_SERVER = "127.0.0.1:50051"
SERVER_ENV = "TC_SERVER"

RequestT = TypeVar("RequestT", bound=Message)
ResponseT = TypeVar("ResponseT", bound=Message)

# How long to wait, after an UNAVAILABLE, for the channel to show it did connect: tells a
# controller answering UNAVAILABLE (a plugin is down) from one that cannot be reached.
_READY_GRACE_SECONDS = 0.2

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


def make_channel(address: str) -> grpc.Channel:
    """The one place a channel to the controller is made."""
    return grpc.insecure_channel(address)


class ControllerClient:
    """A channel to the controller, its stubs, and calls that raise CliError on failure."""

    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self._channel = make_channel(address)
        self._ready = threading.Event()
        self._failed = threading.Event()
        self._channel.subscribe(self._on_connectivity, try_to_connect=False)
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
        self._channel.unsubscribe(self._on_connectivity)
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
        if self._ready.is_set():
            return True
        if self._failed.is_set():
            return False
        # The connectivity callback runs on gRPC's thread and may trail the call's result.
        return self._ready.wait(_READY_GRACE_SECONDS)

    def _on_connectivity(self, state: grpc.ChannelConnectivity) -> None:
        if state == grpc.ChannelConnectivity.READY:
            self._ready.set()
        elif state == grpc.ChannelConnectivity.TRANSIENT_FAILURE and not self._ready.is_set():
            self._failed.set()

