"""The REST gateway's Envoy bootstrap: its golden form, the descriptor set it embeds, and
what a real Envoy (`--mode validate`) thinks of it."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from pydantic import ValidationError

from tc.gateway.bootstrap import LOCAL_REPLY_CODES, STREAMING_PATHS, bootstrap
from tc.gateway.descriptors import TRANSCODED_SERVICES, descriptor_set, descriptor_set_bytes
from tc.gateway.process import envoy_argv
from tc.gateway.settings import GatewaySettings
from tests.conftest import check_golden
from tests.support import ROOT

GOLDEN = ROOT / "tests" / "golden" / "gateway" / "bootstrap.json"
ENVOY = ROOT / ".venv" / "bin" / "envoy"


def _settings(**overrides: Any) -> GatewaySettings:
    return GatewaySettings(upstream_address="127.0.0.1:50051", **overrides)


def _filters(document: dict[str, Any]) -> dict[str, Any]:
    listener = document["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return {f["name"]: f["typed_config"] for f in manager["http_filters"]}


def test_bootstrap_matches_golden(update_golden: bool) -> None:
    # A stand-in descriptor keeps the golden file readable and independent of proto edits;
    # the real one is checked below and by Envoy.
    document = bootstrap(_settings(), "127.0.0.1:50051", b"descriptor")
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    check_golden(GOLDEN, text, update_golden)


def test_transcoder_options() -> None:
    document = bootstrap(_settings(max_request_bytes=4096), "127.0.0.1:50051", b"x")
    filters = _filters(document)
    assert list(filters) == [
        "envoy.filters.http.buffer",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]
    assert filters["envoy.filters.http.buffer"]["max_request_bytes"] == 4096
    transcoder = filters["envoy.filters.http.grpc_json_transcoder"]
    assert transcoder["services"] == ["tc.v1.IntentService", "tc.v1.LifecycleService"]
    assert transcoder["print_options"] == {
        "preserve_proto_field_names": True,
        "always_print_primitive_fields": True,
    }
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["request_validation_options"] == {
        "reject_unknown_method": True,
        "reject_unknown_query_parameters": True,
    }
    assert base64.b64decode(transcoder["proto_descriptor_bin"]) == b"x"


def test_listener_and_upstream_addresses() -> None:
    document = bootstrap(_settings(listen_address="0.0.0.0:0"), "localhost:7000", b"x")
    listener = document["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 0}
    cluster = document["static_resources"]["clusters"][0]
    # A name needs DNS; an IP literal would be STATIC.
    assert cluster["type"] == "STRICT_DNS"
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "localhost", "port_value": 7000}
    options = cluster["typed_extension_protocol_options"]
    assert "http2_protocol_options" in next(iter(options.values()))["explicit_http_config"]


def test_streaming_routes_have_no_timeout() -> None:
    document = bootstrap(_settings(request_timeout_seconds=7), "127.0.0.1:1", b"x")
    listener = document["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    timeouts = {
        r["match"].get("path", r["match"].get("prefix")): r["route"]["timeout"] for r in routes
    }
    assert timeouts == {**dict.fromkeys(STREAMING_PATHS, "0s"), "/": "7s"}


def test_local_replies_map_to_grpc_codes() -> None:
    # The inverse of Envoy's gRPC -> HTTP mapping for the codes that matter to clients.
    assert LOCAL_REPLY_CODES[400] == 3
    assert LOCAL_REPLY_CODES[404] == 5
    assert LOCAL_REPLY_CODES[413] == 8
    assert LOCAL_REPLY_CODES[503] == 14


def test_settings_need_exactly_one_upstream(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        GatewaySettings()
    with pytest.raises(ValidationError, match="exactly one"):
        GatewaySettings(upstream_address="127.0.0.1:1", upstream_address_file=tmp_path / "a")
    with pytest.raises(ValidationError, match="host:port"):
        GatewaySettings(upstream_address="127.0.0.1:1", listen_address="8080")


def test_descriptor_set_has_imports_first_and_keeps_http_annotations() -> None:
    files = descriptor_set().file
    names = [f.name for f in files]
    for index, file in enumerate(files):
        assert set(file.dependency) <= set(names[:index]), f"{file.name} before its imports"
    assert {"google/api/annotations.proto", "google/api/http.proto"} <= set(names)
    assert "google/protobuf/descriptor.proto" in names
    # Packed in the controller's INVALID_ARGUMENT details: needed to print them as JSON.
    assert "google/rpc/error_details.proto" in names

    # Loaded into a fresh pool from the bytes alone, as Envoy does.
    pool = descriptor_pool.DescriptorPool()
    parsed = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set_bytes())
    for file in parsed.file:
        pool.Add(file)
    rules = {}
    for service in TRANSCODED_SERVICES:
        for method in pool.FindServiceByName(service).methods:
            proto = descriptor_pb2.MethodDescriptorProto()
            method.CopyToProto(proto)
            options = descriptor_pb2.MethodOptions.FromString(proto.options.SerializeToString())
            rules[method.name] = options.Extensions[annotations_pb2.http]
    assert rules["GetIntent"].get == "/v1/intents/{name}"
    assert rules["ApplyIntent"].post == "/v1/intents"
    assert rules["ApplyIntent"].body == "intent"
    assert rules["Healthz"].get == "/healthz"
    assert rules["Readyz"].get == "/readyz"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENVOY), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_envoy_accepts_the_bootstrap(tmp_path: Path) -> None:
    settings = _settings(work_dir=tmp_path)
    document = bootstrap(settings, "127.0.0.1:50051", descriptor_set_bytes())
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = _validate(path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # The process runs Envoy with flags that validate mode accepts too.
    argv = envoy_argv(settings, path, tmp_path / "admin")
    assert "--disable-hot-restart" in argv and "--use-dynamic-base-id" in argv


def test_envoy_checks_the_descriptor(tmp_path: Path) -> None:
    # Validation really reads the descriptor set: a service it lacks is refused.
    document = bootstrap(_settings(), "127.0.0.1:50051", descriptor_set_bytes())
    _filters(document)["envoy.filters.http.grpc_json_transcoder"]["services"] = ["tc.v1.Nope"]
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = _validate(path)
    assert result.returncode != 0
    assert "tc.v1.Nope" in result.stdout + result.stderr
