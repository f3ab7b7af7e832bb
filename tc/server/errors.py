"""The one place where domain errors become gRPC statuses.

Invalid input is permanent (INVALID_ARGUMENT, with every field violation also attached as a
google.rpc.BadRequest detail so REST clients get them structured); store conflicts map to
ABORTED / FAILED_PRECONDITION / NOT_FOUND; an unavailable store or a draining controller is
retryable (UNAVAILABLE). Servicers raise `RequestError` or domain errors and never build a
status themselves.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2

from tc.ir import FieldError, InvalidIntentError
from tc.server.store import (
    Deleting,
    GenerationMismatch,
    KindChanged,
    NotFound,
    StoreClosed,
    StoreError,
)

log = logging.getLogger("tc.server")

T = TypeVar("T")


class RequestError(Exception):
    """A request the servicer refuses, with the status code to refuse it with."""

    def __init__(
        self, code: grpc.StatusCode, message: str, fields: Sequence[FieldError] = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = tuple(fields)


# gRPC metadata (status message and details travel in trailers) is limited to 8 KiB by
# default: past it the client sees RESOURCE_EXHAUSTED instead of the refusal. Report the
# first errors in full and count the rest.
MAX_REPORTED_ERRORS = 20
MAX_ERROR_TEXT = 300


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 3] + "..."


def _summary(errors: Sequence[FieldError]) -> str:
    shown = "; ".join(_clip(str(e)) for e in errors[:MAX_REPORTED_ERRORS])
    more = len(errors) - MAX_REPORTED_ERRORS
    return f"{shown}; and {more} more errors" if more > 0 else shown


def invalid(path: str, message: str) -> RequestError:
    return RequestError(
        grpc.StatusCode.INVALID_ARGUMENT, f"{path}: {message}", [FieldError(path, message)]
    )


def unavailable(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.UNAVAILABLE, message)


def to_request_error(exc: BaseException) -> RequestError | None:
    if isinstance(exc, RequestError):
        return exc
    if isinstance(exc, InvalidIntentError):
        return RequestError(grpc.StatusCode.INVALID_ARGUMENT, _summary(exc.errors), exc.errors)
    if isinstance(exc, NotFound):
        return RequestError(grpc.StatusCode.NOT_FOUND, str(exc))
    if isinstance(exc, GenerationMismatch):
        return RequestError(grpc.StatusCode.ABORTED, str(exc))
    if isinstance(exc, Deleting | KindChanged):
        return RequestError(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    if isinstance(exc, StoreClosed):
        return RequestError(grpc.StatusCode.UNAVAILABLE, str(exc))
    if isinstance(exc, StoreError):
        return RequestError(grpc.StatusCode.UNAVAILABLE, f"store unavailable: {exc}")
    return None


def _details(err: RequestError) -> bytes:
    detail = status_pb2.Status(code=err.code.value[0], message=err.message)
    if err.fields:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=_clip(f.path), description=_clip(f.message)
                )
                for f in err.fields[:MAX_REPORTED_ERRORS]
            ]
        )
        detail.details.add().Pack(bad)
    encoded: bytes = detail.SerializeToString()
    return encoded


async def abort(context: grpc.aio.ServicerContext[Any, Any], err: RequestError) -> NoReturn:
    await context.abort(
        err.code, err.message, trailing_metadata=(("grpc-status-details-bin", _details(err)),)
    )
    raise AssertionError("unreachable")  # context.abort always raises


Handler = Callable[..., Awaitable[T]]


def mapped(handler: Handler[T]) -> Handler[T]:
    """Decorates a servicer method: domain errors become statuses, nothing else leaks."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> T:
        try:
            return await handler(self, request, context)
        except Exception as exc:
            err = to_request_error(exc)
            if err is None:
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                log.exception("unexpected error in %s", handler.__name__)
                err = RequestError(
                    grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}"
                )
            await abort(context, err)

    return wrapper
