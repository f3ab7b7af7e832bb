"""`tcctl up` and `tcctl controller`: run the controller in the foreground from flags.

The server is imported only inside these handlers, so client commands start fast and do
not load asyncio servers, the store and the plugin supervisor they never use.

`tcctl up` also runs the REST gateway (Envoy transcoding REST to the controller's gRPC) on
127.0.0.1:8080 as a process the controller supervises like a plugin instance; `--no-rest`
leaves it out. `tcctl controller` runs it only when given `--rest-address`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tc.cli.errors import EXIT_USAGE, CliError

if TYPE_CHECKING:
    from tc.server.plugin_config import PluginConfig
    from tc.server.settings import ControllerSettings

# Flags that map one to one onto ControllerSettings fields; unset flags keep its defaults,
# so the defaults live in one place.
_SETTINGS_FLAGS = (
    "grpc_address",
    "state_dir",
    "plugins_dir",
    "log_json",
    "log_level",
    "tokens_file",
    "tls_cert_file",
    "tls_key_file",
    "tls_client_ca_file",
    "insecure",
)
# --orchestrator-<field> and --event-sink-url: ControllerSettings.orchestrator.<field>.
_ORCHESTRATOR_FLAGS = {
    "orchestrator_url": "url",
    "orchestrator_name": "name",
    "orchestrator_priority": "priority",
    "orchestrator_deregister": "deregister_on_stop",
    "event_sink_url": "sink_url",
}


def settings_from_args(args: argparse.Namespace) -> ControllerSettings:
    """ControllerSettings from the flags given; a value it rejects is a usage error."""
    from pydantic import ValidationError

    from tc.server.settings import ControllerSettings

    values: dict[str, Any] = {
        flag: getattr(args, flag)
        for flag in _SETTINGS_FLAGS
        if getattr(args, flag, None) is not None
    }
    orchestrator = {
        field: getattr(args, flag)
        for flag, field in _ORCHESTRATOR_FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    if orchestrator:
        values["orchestrator"] = orchestrator
    plugin_tls = {
        f"{end}_file": getattr(args, f"plugin_tls_{end}_file")
        for end in ("cert", "key", "ca")
        if getattr(args, f"plugin_tls_{end}_file", None) is not None
    }
    if plugin_tls:
        values["plugin_tls"] = plugin_tls
    try:
        return ControllerSettings(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise CliError(f"invalid settings: {problems}", EXIT_USAGE) from None


def gateway_from_args(
    args: argparse.Namespace, settings: ControllerSettings
) -> PluginConfig | None:
    """The supervised REST gateway the flags ask for, or None."""
    if args.no_rest or args.rest_address is None:
        return None
    from pydantic import ValidationError

    from tc.gateway.process import process_config
    from tc.gateway.settings import GatewaySettings

    if settings.tls_enabled and args.rest_upstream_ca_file is None:
        # Plaintext HTTP/2 against a TLS port would fail every call.
        raise CliError(
            "the REST gateway needs --rest-upstream-ca-file (the CA of the controller's "
            "certificate) to reach a TLS controller, or pass --no-rest",
            EXIT_USAGE,
        )
    if settings.tls_client_ca_file is not None and args.rest_upstream_cert_file is None:
        raise CliError(
            "the controller requires client certificates (mTLS): give the REST gateway one "
            "with --rest-upstream-cert-file/--rest-upstream-key-file, or pass --no-rest",
            EXIT_USAGE,
        )
    state_dir = settings.state_dir.resolve()
    values: dict[str, Any] = {
        "listen_address": args.rest_address,
        "tls_cert_file": args.rest_tls_cert_file,
        "tls_key_file": args.rest_tls_key_file,
        "upstream_ca_file": args.rest_upstream_ca_file,
        "upstream_cert_file": args.rest_upstream_cert_file,
        "upstream_key_file": args.rest_upstream_key_file,
        # The controller writes its bound address there before it starts any process,
        # so this works with --grpc-address HOST:0 too.
        "upstream_address_file": state_dir / "controller.address",
        "work_dir": state_dir / "gateway",
    }
    if args.rest_upstream_server_name is not None:
        values["upstream_server_name"] = args.rest_upstream_server_name
    if args.rest_max_request_bytes is not None:
        values["max_request_bytes"] = args.rest_max_request_bytes
    try:
        gateway = GatewaySettings(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise CliError(f"invalid REST gateway settings: {problems}", EXIT_USAGE) from None
    from tc.tls import is_loopback

    if (
        not is_loopback(gateway.listen_address)
        and not settings.insecure
        and not (gateway.tls_cert_file is not None and settings.tokens_file is not None)
    ):
        # The same rule as the gRPC port (tc.server.auth): beyond loopback, TLS and tokens.
        raise CliError(
            f"refusing to serve REST on {args.rest_address} without TLS "
            "(--rest-tls-cert-file/--rest-tls-key-file) and --tokens-file; "
            "pass --insecure if that is what you mean",
            EXIT_USAGE,
        )
    return process_config(gateway)


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
    gateway = gateway_from_args(args, settings)
    return run_controller(settings, auxiliaries=[gateway] if gateway else [])
