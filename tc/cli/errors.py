"""Exit codes and the one exception type the commands raise, so main() prints one line.

Scripts wrapping tcctl tell "bad request" from "no controller" by the exit code, so the
codes are part of the interface and defined once here.
"""

from __future__ import annotations

import grpc

EXIT_OK = 0
EXIT_REQUEST = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
# What a shell reports for a process ended by SIGINT.
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure to report as `error: <message>` and exit with `exit_code`, no traceback."""

    def __init__(
        self,
        message: str,
        exit_code: int = EXIT_REQUEST,
        code: grpc.StatusCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        # The gRPC status behind the error, for callers that treat one code as an answer
        # (NOT_FOUND while waiting for a deletion).
        self.code = code
