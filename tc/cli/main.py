"""`tcctl`'s entry point: the argparse wiring, and the one place errors become exit codes.

Handlers live in tc.cli.commands (client commands) and tc.cli.serve (running the
controller); main() turns their CliError into a single `error: ...` line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tc import __version__
from tc.cli import commands, output, serve
from tc.cli.client import DEFAULT_SERVER, SERVER_ENV
from tc.cli.errors import EXIT_INTERRUPTED, EXIT_REQUEST, EXIT_USAGE, CliError

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_DEFAULT_TIMEOUT_SECONDS = 10.0
_DEFAULT_WAIT_TIMEOUT_SECONDS = 60.0
# Kept here rather than imported from tc.gateway: client commands must not load it.
DEFAULT_REST_ADDRESS = "127.0.0.1:8080"


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _client_options(
    environ: Mapping[str, str],
    *,
    timeout_default: float = _DEFAULT_TIMEOUT_SECONDS,
    timeout_help: str = "deadline of each request",
) -> argparse.ArgumentParser:
    # A fresh parser per call: `drain` gives --timeout its own meaning, and argparse shares
    # a parent's actions between the subcommands that use it.
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--server",
        default=environ.get(SERVER_ENV) or DEFAULT_SERVER,
        metavar="HOST:PORT",
        help=f"controller gRPC address (default: ${SERVER_ENV} or {DEFAULT_SERVER})",
    )
    parent.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=timeout_default,
        metavar="SECONDS",
        help=f"{timeout_help} (default: {timeout_default:g})",
    )
    parent.add_argument(
        "--token-file",
        type=Path,
        default=environ.get("TC_TOKEN_FILE") or None,
        metavar="FILE",
        help="bearer token to send (default: $TC_TOKEN_FILE)",
    )
    parent.add_argument("--tls", action="store_true", help="TLS, trusting the system roots")
    parent.add_argument("--tls-ca-file", type=Path, metavar="FILE", help="TLS, trusting this CA")
    parent.add_argument(
        "--tls-client-cert-file", type=Path, metavar="FILE", help="client cert (mTLS)"
    )
    parent.add_argument(
        "--tls-client-key-file", type=Path, metavar="FILE", help="client key (mTLS)"
    )
    parent.add_argument(
        "--tls-server-name", metavar="NAME", help="name the server certificate must carry"
    )
    return parent


def _output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=output.FORMATS,
        default="table",
        help="output format (default: table)",
    )


def _rest_options(*, default_address: str | None) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    shown = default_address or "off"
    parent.add_argument(
        "--rest-address",
        default=default_address,
        metavar="HOST:PORT",
        help=f"serve the REST gateway (Envoy) on this address (default: {shown})",
    )
    parent.add_argument("--no-rest", action="store_true", help="do not run the REST gateway")
    parent.add_argument(
        "--rest-tls-cert-file", type=Path, metavar="FILE", help="serve REST over HTTPS"
    )
    parent.add_argument("--rest-tls-key-file", type=Path, metavar="FILE", help="its key")
    parent.add_argument(
        "--rest-upstream-ca-file",
        type=Path,
        metavar="FILE",
        help="CA of the controller's certificate, when its gRPC port has TLS",
    )
    parent.add_argument(
        "--rest-upstream-server-name",
        metavar="NAME",
        help="DNS name in the controller's certificate (default: localhost)",
    )
    parent.add_argument(
        "--rest-upstream-cert-file", type=Path, metavar="FILE", help="gateway's client cert (mTLS)"
    )
    parent.add_argument(
        "--rest-upstream-key-file", type=Path, metavar="FILE", help="its key (mTLS)"
    )
    parent.add_argument(
        "--rest-max-request-bytes",
        type=int,
        metavar="BYTES",
        help="largest REST request body; larger ones get 413 (default: 1048576)",
    )
    return parent


def _controller_options(*, plugins_dir_required: bool) -> argparse.ArgumentParser:
    # Defaults are None so ControllerSettings' own defaults apply; the help repeats them.
    parent = argparse.ArgumentParser(add_help=False)
    if plugins_dir_required:
        parent.add_argument(
            "--config",
            "--plugins-dir",
            dest="plugins_dir",
            type=Path,
            required=True,
            metavar="DIR",
            help="directory of plugin configs",
        )
    else:
        parent.add_argument(
            "--plugins-dir",
            type=Path,
            metavar="DIR",
            help="directory of plugin configs (default: config/plugins.d)",
        )
    parent.add_argument(
        "--state-dir", type=Path, metavar="DIR", help="durable state (default: ./var)"
    )
    parent.add_argument(
        "--grpc-address",
        metavar="HOST:PORT",
        help=f"address the controller serves gRPC on (default: {DEFAULT_SERVER})",
    )
    parent.add_argument(
        "--log-json", action="store_true", default=None, help="log one JSON object per line"
    )
    parent.add_argument(
        "--log-level", type=str.upper, choices=_LOG_LEVELS, help="log level (default: INFO)"
    )
    security = parent.add_argument_group("security (required beyond loopback)")
    security.add_argument(
        "--tokens-file",
        type=Path,
        metavar="FILE",
        help="hashed bearer tokens (python -m tc.server.auth add-token NAME --file FILE)",
    )
    security.add_argument("--tls-cert-file", type=Path, metavar="FILE", help="server certificate")
    security.add_argument("--tls-key-file", type=Path, metavar="FILE", help="its private key")
    security.add_argument(
        "--tls-client-ca-file", type=Path, metavar="FILE", help="require client certs (mTLS)"
    )
    for end, what in (("cert", "certificate"), ("key", "key"), ("ca", "CA")):
        security.add_argument(
            f"--plugin-tls-{end}-file",
            type=Path,
            metavar="FILE",
            help=f"mTLS with plugin instances: the {what} (all three, or none)",
        )
    security.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="allow a non-loopback address without TLS and tokens",
    )
    orchestrator = parent.add_argument_group("orchestrator (EMCO registration, CloudEvents)")
    orchestrator.add_argument("--orchestrator-url", metavar="URL", help="register with it")
    orchestrator.add_argument(
        "--orchestrator-name", metavar="NAME", help="controller name to register"
    )
    orchestrator.add_argument(
        "--orchestrator-priority", type=int, metavar="N", help="1..100 (default: 1)"
    )
    orchestrator.add_argument(
        "--orchestrator-deregister",
        action="store_true",
        default=None,
        help="deregister from the orchestrator on shutdown",
    )
    orchestrator.add_argument(
        "--event-sink-url", metavar="URL", help="send CloudEvents (ready, degraded, ...) here"
    )
    return parent


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """The whole command line; `environ` supplies defaults such as TC_SERVER."""
    parser = argparse.ArgumentParser(
        prog="tcctl", description="Run and talk to the traffic-controller."
    )
    parser.add_argument("--version", action="version", version=f"tcctl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    client = _client_options(environ)

    up = sub.add_parser(
        "up",
        parents=[
            _controller_options(plugins_dir_required=False),
            _rest_options(default_address=DEFAULT_REST_ADDRESS),
        ],
        help="run the controller, its plugins and the REST gateway in the foreground",
    )
    up.set_defaults(handler=serve.run)

    controller = sub.add_parser(
        "controller",
        parents=[
            _controller_options(plugins_dir_required=True),
            _rest_options(default_address=None),
        ],
        help="run the controller with the plugin configs in DIR",
    )
    controller.set_defaults(handler=serve.run)

    apply = sub.add_parser("apply", parents=[client], help="create or update intents")
    apply.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="YAML or JSON intents; - reads stdin; may be repeated",
    )
    apply.set_defaults(handler=commands.apply)

    get = sub.add_parser("get", parents=[client], help="show intents or checked micro-services")
    get.add_argument("resource", choices=("intents", "intent", "microservices", "microservice"))
    get.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="only these intents (microservices: only the endpoints of these service intents)",
    )
    _output_option(get)
    get.add_argument(
        "-l",
        "--selector",
        metavar="KEY=VALUE,...",
        help="only intents with all these labels",
    )
    get.set_defaults(handler=commands.get)

    delete = sub.add_parser("delete", parents=[client], help="delete intents")
    delete.add_argument("resource", choices=("intent", "intents"))
    delete.add_argument("names", nargs="+", metavar="NAME")
    delete.add_argument(
        "--wait", action="store_true", help="wait until every plugin has removed the intent"
    )
    delete.add_argument(
        "--wait-timeout",
        type=_positive_seconds,
        default=_DEFAULT_WAIT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"give up waiting after this long (default: {_DEFAULT_WAIT_TIMEOUT_SECONDS:g})",
    )
    delete.set_defaults(handler=commands.delete)

    status = sub.add_parser(
        "status", parents=[client], help="show the controller and its plugin instances"
    )
    _output_option(status)
    status.set_defaults(handler=commands.status)

    drain = sub.add_parser(
        "drain",
        parents=[
            _client_options(
                environ,
                timeout_default=_DEFAULT_WAIT_TIMEOUT_SECONDS,
                timeout_help="how long to wait for queued work to finish",
            )
        ],
        help="refuse new changes and finish queued work (until the controller restarts)",
    )
    _output_option(drain)
    drain.set_defaults(handler=commands.drain)

    events = sub.add_parser(
        "events", parents=[client], help="stream controller events until Ctrl-C"
    )
    events.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="one line per event, or one JSON object per line (default: table)",
    )
    events.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        metavar="TYPE",
        help="only events of this type, e.g. intent.ready; may be repeated",
    )
    events.add_argument("--count", type=_positive_int, metavar="N", help="stop after N events")
    events.set_defaults(handler=commands.events)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run tcctl; returns the exit code (the console script passes it to sys.exit)."""
    parser = build_parser(os.environ)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # argparse has printed usage or help; keep main() returning like every other path.
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CliError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_REQUEST


def _silence_stdout() -> None:
    # The reader went away (`tcctl get intents | head`); point stdout at /dev/null so the
    # interpreter's final flush does not print a second error.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
