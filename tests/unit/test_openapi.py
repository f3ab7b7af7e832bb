"""The OpenAPI document describes exactly the REST routes the transcoder serves, is valid
OpenAPI 3, prints JSON the way the transcoder does, and the committed copy is current."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from google.api import annotations_pb2, http_pb2
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import ServiceDescriptor
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2
from tc.gateway.openapi import (
    REPO_ROOT,
    openapi_document,
    proto_comments,
    render,
    repository_comments,
)

COMMITTED = REPO_ROOT / "docs" / "openapi.json"
VERBS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document(comments=repository_comments())


def _services() -> list[ServiceDescriptor]:
    return [
        intent_pb2.DESCRIPTOR.services_by_name["IntentService"],
        lifecycle_pb2.DESCRIPTOR.services_by_name["LifecycleService"],
    ]


def _expected_routes() -> set[tuple[str, str, str]]:
    """(verb, OpenAPI path, RPC) for every binding, read straight off the descriptors."""
    routes = set()
    for service in _services():
        for method in service.methods:
            options = method.GetOptions()
            if not options.HasExtension(annotations_pb2.http):
                continue
            rule = options.Extensions[annotations_pb2.http]
            for binding in [rule, *rule.additional_bindings]:
                verb = binding.WhichOneof("pattern")
                assert verb in VERBS, f"{method.full_name}: unexpected pattern {verb}"
                template = getattr(binding, verb)
                path = re.sub(
                    r"\{([^}=]+)(=[^}]*)?\}",
                    lambda m: "{" + m.group(1).replace(".", "_") + "}",
                    template,
                )
                routes.add((verb, path, f"{service.name}_{method.name}"))
    return routes


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (verb, path): op
        for path, item in document["paths"].items()
        for verb, op in item.items()
        if verb in VERBS
    }


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def test_every_annotated_rpc_has_its_route(document: dict[str, Any]) -> None:
    expected = _expected_routes()
    assert len(expected) >= 12  # the routes of issue 6 at least; new ones only add
    operations = _operations(document)
    assert {(verb, path) for verb, path, _ in expected} == set(operations)
    for verb, path, rpc in expected:
        # Additional bindings carry a suffix: operation ids must be unique.
        assert re.fullmatch(rf"{rpc}(_\d+)?", operations[verb, path]["operationId"])
    ids = [op["operationId"] for op in operations.values()]
    assert len(ids) == len(set(ids))


def test_known_routes(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert operations["post", "/v1/intents"]["operationId"] == "IntentService_ApplyIntent"
    assert operations["put", "/v1/intents/{intent_name}"]["operationId"].startswith(
        "IntentService_ApplyIntent"
    )
    assert operations["get", "/v1/intents/{name}"]["operationId"] == "IntentService_GetIntent"
    assert operations["get", "/v1/status"]["operationId"] == "LifecycleService_GetStatus"


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.0.3"
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.0 meta-schema
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise AssertionError(f"operation cannot be built: {result.err()!r}")
        operation = result.ok()

        # Drawing a few requests proves every schema resolves and can be generated from.
        @settings(max_examples=3, database=None, suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def draw(case: Any) -> None:
            pass

        draw()


def test_committed_document_is_current(document: dict[str, Any]) -> None:
    assert COMMITTED.read_text() == render(document), (
        "docs/openapi.json is stale: run `.venv/bin/python -m tc.gateway.openapi "
        "-o docs/openapi.json` and commit"
    )


def test_apply_intent_takes_the_intent_as_body(document: dict[str, Any]) -> None:
    op = _operations(document)["post", "/v1/intents"]
    body = op["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/tc.v1.Intent"
    }
    # The rest of ApplyIntentRequest travels in the query, as the transcoder reads it.
    (param,) = op["parameters"]
    assert param["name"] == "expected_generation"
    assert param["in"] == "query"
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/tc.v1.ApplyIntentResponse"}
    assert {"400", "401", "409", "503", "default"} <= set(op["responses"])


def test_nested_path_variable_binds_its_field(document: dict[str, Any]) -> None:
    op = _operations(document)["put", "/v1/intents/{intent_name}"]
    path_params = [p for p in op["parameters"] if p["in"] == "path"]
    assert path_params == [
        {
            "name": "intent_name",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "x-field-path": "intent.name",
            "description": path_params[0]["description"],
        }
    ]


def test_body_star_leaves_path_fields_out_of_the_body(document: dict[str, Any]) -> None:
    op = _operations(document)["post", "/v1/plugins/{plugin}/instances/{instance}:restart"]
    assert {p["name"] for p in op["parameters"]} == {"plugin", "instance"}
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"] == {}


def test_get_fields_become_query_parameters(document: dict[str, Any]) -> None:
    op = _operations(document)["get", "/v1/intents"]
    assert "requestBody" not in op
    params = {p["name"]: p for p in op["parameters"]}
    assert set(params) == {"page_size", "page_token", "label_selector"}
    assert params["page_size"]["schema"] == {"type": "integer", "format": "int32"}
    events = _operations(document)["get", "/v1/events"]
    (types,) = events["parameters"]
    assert types["schema"] == {"type": "array", "items": {"type": "string"}}
    assert types["explode"] is True


def test_intent_schema(document: dict[str, Any]) -> None:
    intent = _schema(document, "tc.v1.Intent")
    props = intent["properties"]
    assert set(props) == {f.name for f in intent_pb2.Intent.DESCRIPTOR.fields}
    # The spec oneof: each member refers to its message and says it is one of three.
    members = {"service": "ServiceSpec", "dns": "DnsSpec", "workload": "WorkloadSpec"}
    for member, message in members.items():
        assert props[member]["allOf"] == [{"$ref": f"#/components/schemas/tc.v1.{message}"}]
        assert "oneof spec" in props[member]["description"]
    assert "At most one of service, dns, workload" in intent["description"]
    # int64 prints as a string.
    assert props["generation"]["type"] == "string"
    assert props["generation"]["format"] == "int64"
    assert props["generation"]["readOnly"] is True
    assert props["labels"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": props["labels"]["description"],
    }
    assert props["create_time"]["format"] == "date-time"
    assert "readOnly" not in props["name"]


def test_enum_is_strings(document: dict[str, Any]) -> None:
    protocol = _schema(document, "tc.v1.Protocol")
    assert protocol["type"] == "string"
    assert protocol["enum"] == [v.name for v in intent_pb2.Protocol.DESCRIPTOR.values]
    port = _schema(document, "tc.v1.Port")["properties"]
    assert port["protocol"]["allOf"] == [{"$ref": "#/components/schemas/tc.v1.Protocol"}]
    assert port["number"]["minimum"] == 0


def test_well_known_types(document: dict[str, Any]) -> None:
    retry = _schema(document, "tc.v1.RetryPolicy")["properties"]
    assert retry["per_try_timeout"]["type"] == "string"
    assert re.fullmatch(retry["per_try_timeout"]["pattern"], "1.5s")
    status = _schema(document, "google.rpc.Status")["properties"]
    assert set(status) == {"code", "message", "details"}
    assert status["details"]["items"]["properties"] == {"@type": {"type": "string"}}


def test_streaming_rpcs_are_arrays(document: dict[str, Any]) -> None:
    for path in ("/v1/intents:watch", "/v1/events"):
        op = _operations(document)["get", path]
        assert op["x-server-streaming"] is True
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["type"] == "array"
        assert "JSON array" in op["description"]


def test_bearer_auth_everywhere_but_health(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    for op in _operations(document).values():
        # Probes must work without a secret, wherever the health RPCs are routed.
        if op["operationId"] in ("LifecycleService_Healthz", "LifecycleService_Readyz"):
            assert op["security"] == []
            assert "401" not in op["responses"]
        else:
            assert "security" not in op
            assert "401" in op["responses"]


def _synthetic_service() -> ServiceDescriptor:
    """A LifecycleService with a health RPC, a recursive message and a wrapper, in a pool
    of its own: the generator's handling of them does not wait for a proto to need it."""
    pool = descriptor_pool.DescriptorPool()
    for module in (descriptor_pb2, http_pb2, annotations_pb2, wrappers_pb2, timestamp_pb2):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="tc/v1/synthetic.proto",
        package="tc.v1",
        syntax="proto3",
        dependency=["google/api/annotations.proto", "google/protobuf/wrappers.proto"],
    )
    node = proto.message_type.add(name="Node")
    node.field.add(name="id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    node.field.add(
        name="children",
        number=2,
        type=field.TYPE_MESSAGE,
        type_name=".tc.v1.Node",
        label=field.LABEL_REPEATED,
    )
    node.field.add(
        name="weight",
        number=3,
        type=field.TYPE_MESSAGE,
        type_name=".google.protobuf.UInt32Value",
        label=field.LABEL_OPTIONAL,
    )
    proto.message_type.add(name="Empty")
    service = proto.service.add(name="LifecycleService")
    health = service.method.add(
        name="Healthz", input_type=".tc.v1.Empty", output_type=".tc.v1.Node"
    )
    health.options.Extensions[annotations_pb2.http].get = "/healthz"
    tree = service.method.add(name="GetTree", input_type=".tc.v1.Node", output_type=".tc.v1.Node")
    rule = tree.options.Extensions[annotations_pb2.http]
    rule.get = "/v1/trees/{id=trees/*}"
    rule.response_body = "children"
    pool.Add(proto)
    return pool.FindServiceByName("tc.v1.LifecycleService")


def test_open_health_recursive_messages_and_wrappers() -> None:
    document = openapi_document([_synthetic_service()])
    health = document["paths"]["/healthz"]["get"]
    assert health["security"] == []
    node = document["components"]["schemas"]["tc.v1.Node"]["properties"]
    assert node["children"]["items"] == {"$ref": "#/components/schemas/tc.v1.Node"}
    assert node["weight"]["nullable"] is True
    assert node["weight"]["type"] == "integer"
    tree = document["paths"]["/v1/trees/{id}"]["get"]
    assert "security" not in tree
    # A repeated message cannot travel in the query; a wrapper can, as its scalar.
    path, weight = tree["parameters"]
    assert (path["name"], path["in"]) == ("id", "path")
    assert "trees/*" in path["description"]
    assert (weight["name"], weight["in"]) == ("weight", "query")
    ok = tree["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"type": "array", "items": {"$ref": "#/components/schemas/tc.v1.Node"}}
    schemathesis.openapi.from_dict(document).validate()


def test_proto_comments() -> None:
    source = """
// File header, detached from what follows.
syntax = "proto3";
package demo.v1;

// Svc does things.
service Svc {
  // Get gets
  // over two lines.
  rpc Get(Empty) returns (Outer) {
    option (google.api.http) = {
      get: "/v1/x"
      additional_bindings { get: "/v1/y" }
    };
  }
}

// Empty is empty.
message Empty {}

// Outer holds Inner.
message Outer {
  // Inner is nested.
  message Inner {
    // Deep field.
    string deep = 1;
  }
  // Which one.
  oneof choice {
    // A string.
    string a = 1;
    Inner b = 2;
  }
  // Labels.
  map<string, string> labels = 3;

  int64 uncommented = 4;  // trailing comments are not leading ones
}

// Color is a color.
enum Color {
  // Unset.
  COLOR_UNSPECIFIED = 0;
  COLOR_RED = 1;
}
"""
    assert proto_comments([source]) == {
        "demo.v1.Svc": "Svc does things.",
        "demo.v1.Svc.Get": "Get gets over two lines.",
        "demo.v1.Empty": "Empty is empty.",
        "demo.v1.Outer": "Outer holds Inner.",
        "demo.v1.Outer.Inner": "Inner is nested.",
        "demo.v1.Outer.Inner.deep": "Deep field.",
        "demo.v1.Outer.choice": "Which one.",
        "demo.v1.Outer.a": "A string.",
        "demo.v1.Outer.labels": "Labels.",
        "demo.v1.Color": "Color is a color.",
        "demo.v1.Color.COLOR_UNSPECIFIED": "Unset.",
    }
