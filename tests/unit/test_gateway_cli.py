"""`tcctl up` runs the REST gateway on 127.0.0.1:8080 unless told otherwise; `tcctl
controller` only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tc.cli.errors import CliError
from tc.cli.main import build_parser
from tc.cli.serve import gateway_from_args, settings_from_args
from tc.gateway.settings import GatewaySettings


def _gateway(*argv: str) -> GatewaySettings | None:
    args = build_parser({}).parse_args(list(argv))
    config = gateway_from_args(args, settings_from_args(args))
    if config is None:
        return None
    assert config.module == "tc.gateway" and config.replicas == 1
    return GatewaySettings.model_validate(config.settings)


def test_up_runs_the_gateway_on_the_default_address(tmp_path: Path) -> None:
    settings = _gateway("up", "--state-dir", str(tmp_path))
    assert settings is not None
    assert settings.listen_address == "127.0.0.1:8080"
    assert settings.max_request_bytes == 1024 * 1024
    # Absolute, so the gateway process finds the controller whatever its working directory.
    assert settings.upstream_address_file == tmp_path.resolve() / "controller.address"
    assert settings.work_dir == tmp_path.resolve() / "gateway"


def test_rest_flags(tmp_path: Path) -> None:
    settings = _gateway(
        "up", "--rest-address", "127.0.0.1:0", "--rest-max-request-bytes", "10", "--state-dir", "s"
    )
    assert settings is not None
    assert (settings.listen_address, settings.max_request_bytes) == ("127.0.0.1:0", 10)
    assert _gateway("up", "--no-rest") is None


def test_controller_runs_the_gateway_only_when_asked() -> None:
    assert _gateway("controller", "--config", "d") is None
    settings = _gateway("controller", "--config", "d", "--rest-address", "127.0.0.1:9090")
    assert settings is not None and settings.listen_address == "127.0.0.1:9090"


def test_bad_rest_address_is_a_usage_error() -> None:
    with pytest.raises(CliError, match="listen_address"):
        _gateway("up", "--rest-address", "nowhere")


def test_rest_beyond_loopback_needs_tls_and_tokens_or_insecure(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"refusing to serve REST on 0\.0\.0\.0:8080 without TLS"):
        _gateway("up", "--rest-address", "0.0.0.0:8080")
    cert, key, tokens = (str(tmp_path / n) for n in ("c.pem", "k.pem", "t.yaml"))
    with pytest.raises(CliError, match="refusing"):  # TLS alone is not enough
        _gateway(
            "up", "--rest-address", "0.0.0.0:8080", "--rest-tls-cert-file", cert,
            "--rest-tls-key-file", key,
        )  # fmt: skip
    settings = _gateway(
        "up", "--rest-address", "0.0.0.0:8080", "--rest-tls-cert-file", cert,
        "--rest-tls-key-file", key, "--tokens-file", tokens,
    )  # fmt: skip
    assert settings is not None and settings.tls_cert_file == Path(cert)
    insecure = _gateway("up", "--rest-address", "0.0.0.0:8080", "--insecure")
    assert insecure is not None and insecure.tls_cert_file is None


def test_a_tls_controller_needs_the_gateway_to_trust_it(tmp_path: Path) -> None:
    cert, key, ca = (str(tmp_path / n) for n in ("c.pem", "k.pem", "ca.pem"))
    tls = ("--tls-cert-file", cert, "--tls-key-file", key)
    with pytest.raises(CliError, match="--rest-upstream-ca-file"):
        _gateway("up", *tls)
    with pytest.raises(CliError, match="mTLS"):
        _gateway("up", *tls, "--tls-client-ca-file", ca, "--rest-upstream-ca-file", ca)
    settings = _gateway("up", *tls, "--rest-upstream-ca-file", ca)
    assert settings is not None and settings.upstream_ca_file == Path(ca)


def test_plugin_tls_flags_make_plugin_tls_settings() -> None:
    args = build_parser({}).parse_args(
        [
            "up",
            "--plugin-tls-cert-file",
            "c",
            "--plugin-tls-key-file",
            "k",
            "--plugin-tls-ca-file",
            "a",
        ]
    )
    files = settings_from_args(args).plugin_tls
    assert files is not None
    assert (files.cert_file, files.key_file, files.ca_file) == (Path("c"), Path("k"), Path("a"))
    with pytest.raises(CliError, match="plugin_tls"):
        settings_from_args(build_parser({}).parse_args(["up", "--plugin-tls-cert-file", "c"]))
