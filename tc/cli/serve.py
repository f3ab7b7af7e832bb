"""`tcctl up` and `tcctl controller`: run the controller in the foreground from flags.

The server is imported only inside these handlers, so client commands start fast and do
not load asyncio servers, the store and the plugin supervisor they never use.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tc.cli.errors import EXIT_USAGE, CliError

if TYPE_CHECKING:
    from tc.server.settings import ControllerSettings

# Flags that map one to one onto ControllerSettings fields; unset flags keep its defaults,
# so the defaults live in one place.
_SETTINGS_FLAGS = ("grpc_address", "state_dir", "plugins_dir", "log_json", "log_level")


def settings_from_args(args: argparse.Namespace) -> ControllerSettings:
    """ControllerSettings from the flags given; a value it rejects is a usage error."""
    from pydantic import ValidationError

    from tc.server.settings import ControllerSettings

    values: dict[str, Any] = {
        flag: getattr(args, flag) for flag in _SETTINGS_FLAGS if getattr(args, flag) is not None
    }
    try:
        return ControllerSettings(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise CliError(f"invalid settings: {problems}", EXIT_USAGE) from None


def run(args: argparse.Namespace) -> int:
    """Run the controller until it stops; its return code is tcctl's exit code.

    A missing or bad plugin config directory is reported by run_controller itself.
    """
    settings = settings_from_args(args)
    try:
        from tc.server.main import run_controller
    except ImportError as error:
        # A broken or partial installation: say which module is missing, not a traceback.
        raise CliError(f"cannot load the controller: {error}") from None
    return run_controller(settings)
