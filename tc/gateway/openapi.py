"""The OpenAPI document of the REST API, derived from the same `google.api.http` annotations
that Envoy's gRPC-JSON transcoder routes by.

The REST API is not written by hand: Envoy transcodes it from the gRPC services, so the only
honest description of it is one computed from the same descriptors. This module walks the
service descriptors and prints OpenAPI 3.0.3 (3.0 rather than 3.1 because schemathesis and
most client generators are most at home with it), describing JSON the way the transcoder
prints it: proto field names, int64 as strings, enums by name, well-known types in their
proto3 JSON form, errors as `google.rpc.Status`.

Descriptors carry no comments, so descriptions come from the .proto sources when they are at
hand (`proto_comments`); the document is complete without them.

    python -m tc.gateway.openapi > docs/openapi.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    MethodDescriptor,
    OneofDescriptor,
    ServiceDescriptor,
)
from google.rpc import status_pb2

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2
from tc.server.auth import OPEN_METHODS

OPENAPI_VERSION = "3.0.3"
REPO_ROOT = Path(__file__).resolve().parents[2]
PROTOS = REPO_ROOT / "protos"

Schema = dict[str, Any]

# Only the services clients call over REST; PluginService is the controller's own back end.
CLIENT_SERVICES = ("IntentService", "LifecycleService")

STATUS_SCHEMA = status_pb2.Status.DESCRIPTOR.full_name

_HTTP_METHODS = ("get", "put", "post", "delete", "patch")
_OPENAPI_METHODS = frozenset({*_HTTP_METHODS, "head", "options", "trace"})

# Envoy's mapping of gRPC codes to HTTP statuses (Grpc::Utility::grpcToHttpStatus), for the
# codes the controller returns on purpose.
_HTTP_STATUS = {
    "INVALID_ARGUMENT": "400",
    "FAILED_PRECONDITION": "400",
    "UNAUTHENTICATED": "401",
    "NOT_FOUND": "404",
    "ABORTED": "409",
    "UNAVAILABLE": "503",
}
_CODE_MEANING = {
    "INVALID_ARGUMENT": "the request is invalid; google.rpc.BadRequest details name each field",
    "FAILED_PRECONDITION": "the intent is being deleted or would change kind",
    "UNAUTHENTICATED": "missing, unknown or expired bearer token",
    "NOT_FOUND": "no such object",
    "ABORTED": "expected_generation does not match the stored generation",
    "UNAVAILABLE": "the store is unavailable or the controller is draining; retry with backoff",
}
# What each RPC refuses with beyond UNAUTHENTICATED and UNAVAILABLE, which every
# authenticated call may return. Kept beside the servicers' behaviour by hand: descriptors
# cannot say it, and a missing entry only makes the document vaguer, never wrong, because
# every operation also has the `default` google.rpc.Status response.
_METHOD_CODES: Mapping[str, tuple[str, ...]] = {
    "tc.v1.IntentService.ApplyIntent": ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "ABORTED"),
    "tc.v1.IntentService.GetIntent": ("INVALID_ARGUMENT", "NOT_FOUND"),
    "tc.v1.IntentService.ListIntents": ("INVALID_ARGUMENT",),
    "tc.v1.IntentService.DeleteIntent": ("INVALID_ARGUMENT", "NOT_FOUND", "ABORTED"),
    "tc.v1.IntentService.WatchIntents": ("INVALID_ARGUMENT",),
    "tc.v1.LifecycleService.RestartPluginInstance": ("INVALID_ARGUMENT", "NOT_FOUND"),
}

_STREAM_NOTE = (
    "Server-streaming RPC: Envoy's transcoder sends the messages as one JSON array, writing "
    "each element as it arrives, so read the body incrementally. An error after the first "
    "message cannot change the HTTP status: the array ends early."
)

_INT64 = {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}
_UINT64 = {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}
_SCALARS: Mapping[int, Schema] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    # OpenAPI has no uint32 format; bounds say what the transcoder accepts.
    FieldDescriptor.TYPE_UINT32: {
        "type": "integer",
        "format": "int64",
        "minimum": 0,
        "maximum": 4294967295,
    },
    FieldDescriptor.TYPE_FIXED32: {
        "type": "integer",
        "format": "int64",
        "minimum": 0,
        "maximum": 4294967295,
    },
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}


def _wrapper(scalar: Schema, what: str) -> Schema:
    return {**scalar, "nullable": True, "description": f"{what} wrapper: the value or null."}


# Well-known types print as their proto3 JSON form, not as messages, so they are inlined.
_WELL_KNOWN: Mapping[str, Schema] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339 UTC time, e.g. 2024-01-02T03:04:05.678Z.",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "description": 'Seconds with an "s" suffix, e.g. "1.5s".',
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated field paths in lowerCamelCase.",
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {"description": "Any JSON value."},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.NullValue": {"nullable": True, "enum": [None]},
    "google.protobuf.Empty": {"type": "object", "properties": {}},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
        "description": "A message of the type named by @type, with its fields beside @type.",
    },
    "google.protobuf.DoubleValue": _wrapper(_SCALARS[FieldDescriptor.TYPE_DOUBLE], "double"),
    "google.protobuf.FloatValue": _wrapper(_SCALARS[FieldDescriptor.TYPE_FLOAT], "float"),
    "google.protobuf.Int64Value": _wrapper(_INT64, "int64"),
    "google.protobuf.UInt64Value": _wrapper(_UINT64, "uint64"),
    "google.protobuf.Int32Value": _wrapper(_SCALARS[FieldDescriptor.TYPE_INT32], "int32"),
    "google.protobuf.UInt32Value": _wrapper(_SCALARS[FieldDescriptor.TYPE_UINT32], "uint32"),
    "google.protobuf.BoolValue": _wrapper(_SCALARS[FieldDescriptor.TYPE_BOOL], "bool"),
    "google.protobuf.StringValue": _wrapper(_SCALARS[FieldDescriptor.TYPE_STRING], "string"),
    "google.protobuf.BytesValue": _wrapper(_SCALARS[FieldDescriptor.TYPE_BYTES], "bytes"),
}

# Well-known types a query parameter can carry: the transcoder parses their JSON string form.
_QUERY_WELL_KNOWN = frozenset(
    {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        "google.protobuf.DoubleValue",
        "google.protobuf.FloatValue",
        "google.protobuf.Int64Value",
        "google.protobuf.UInt64Value",
        "google.protobuf.Int32Value",
        "google.protobuf.UInt32Value",
        "google.protobuf.BoolValue",
        "google.protobuf.StringValue",
        "google.protobuf.BytesValue",
    }
)


def client_services() -> list[ServiceDescriptor]:
    """The services served over REST, from the generated modules."""
    return [
        intent_pb2.DESCRIPTOR.services_by_name["IntentService"],
        lifecycle_pb2.DESCRIPTOR.services_by_name["LifecycleService"],
    ]


def http_rules(method: MethodDescriptor) -> list[http_pb2.HttpRule]:
    """The method's `google.api.http` rule followed by its additional bindings; none when
    the method is not annotated (it is then gRPC only)."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule = options.Extensions[annotations_pb2.http]
    # Additional bindings cannot nest further (google/api/http.proto), so one level suffices.
    return [rule, *rule.additional_bindings]


def rule_verb_and_path(rule: http_pb2.HttpRule) -> tuple[str, str]:
    """The lower-case HTTP method and the path template of one rule."""
    pattern = rule.WhichOneof("pattern")
    if pattern == "custom":
        verb, path = rule.custom.kind.lower(), rule.custom.path
        if verb not in _OPENAPI_METHODS:
            raise ValueError(f"custom HTTP method {rule.custom.kind!r} has no OpenAPI form")
        return verb, path
    if pattern not in _HTTP_METHODS:
        raise ValueError(f"http rule without a pattern: {rule}")
    return pattern, str(getattr(rule, pattern))


_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")


def path_variables(template: str) -> list[tuple[str, str | None]]:
    """Field paths bound by a path template, each with its segment pattern if one is given:
    `/v1/{name=things/*}` binds ("name", "things/*")."""
    return [(m.group(1).strip(), m.group(2)) for m in _VARIABLE.finditer(template)]


def parameter_name(field_path: str) -> str:
    """The OpenAPI name of a path variable. A nested field path `intent.name` becomes
    `intent_name`: tools that expand paths with format strings (schemathesis among them)
    read a dot as attribute access. The operation keeps the real path in `x-field-path`."""
    return field_path.replace(".", "_")


def openapi_path(template: str) -> str:
    """An OpenAPI path from a path template: `{name=things/*}` becomes `{name}` and
    `{intent.name}` becomes `{intent_name}`."""
    return _VARIABLE.sub(lambda m: "{" + parameter_name(m.group(1).strip()) + "}", template)


def _field_at(message: Descriptor, path: str) -> FieldDescriptor:
    field: FieldDescriptor | None = None
    current: Descriptor | None = message
    for part in path.split("."):
        if current is None or part not in current.fields_by_name:
            raise ValueError(f"{message.full_name} has no field {path!r}")
        field = current.fields_by_name[part]
        current = field.message_type
    assert field is not None
    return field


def _message(field: FieldDescriptor) -> Descriptor:
    assert field.message_type is not None, field.full_name
    return field.message_type


def _is_map(field: FieldDescriptor) -> bool:
    entry = field.message_type
    return entry is not None and entry.GetOptions().map_entry


def _synthetic(oneof: OneofDescriptor) -> bool:
    # A proto3 `optional` field sits alone in a oneof named after it; that is presence, not
    # a choice, and protoc names it so nothing else can clash.
    return len(oneof.fields) == 1 and oneof.name == "_" + oneof.fields[0].name


def _output_only(field: FieldDescriptor, comment: str) -> bool:
    # AIP-203: the field_behavior annotation, or the "Output only" comment convention these
    # protos follow. readOnly keeps clients (and schemathesis) from sending such fields.
    behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    return field_behavior_pb2.OUTPUT_ONLY in behaviors or comment.startswith("Output only")


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=\.)\s", text, maxsplit=1)[0]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


class _Builder:
    """Collects component schemas while operations are built, so exactly the messages and
    enums reachable from the REST API end up in the document."""

    def __init__(self, comments: Mapping[str, str]) -> None:
        self.comments = comments
        self.schemas: dict[str, Schema] = {}

    # -- schemas --

    def field_schema(self, field: FieldDescriptor, *, in_container: bool = False) -> Schema:
        if _is_map(field) and not in_container:
            value = _message(field).fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.field_schema(value)}
        if field.is_repeated and not in_container:
            return {"type": "array", "items": self.field_schema(field, in_container=True)}
        if field.enum_type is not None:
            return self.enum_ref(field.enum_type)
        if field.message_type is not None:
            return self.message_ref(field.message_type)
        return dict(_SCALARS[field.type])

    def enum_ref(self, enum: EnumDescriptor) -> Schema:
        if enum.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[enum.full_name])
        if enum.full_name not in self.schemas:
            schema: Schema = {"type": "string", "enum": [v.name for v in enum.values]}
            lines = [self.comments.get(enum.full_name, "")]
            lines += [
                f"- {v.name}: {self.comments[f'{enum.full_name}.{v.name}']}"
                for v in enum.values
                if f"{enum.full_name}.{v.name}" in self.comments
            ]
            if text := "\n".join(line for line in lines if line):
                schema["description"] = text
            self.schemas[enum.full_name] = schema
        return _ref(enum.full_name)

    def message_ref(self, message: Descriptor) -> Schema:
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        if message.full_name not in self.schemas:
            # Registered before the fields are walked so a recursive message ends in a $ref.
            schema: Schema = {"type": "object"}
            self.schemas[message.full_name] = schema
            self._fill_message(message, schema)
        return _ref(message.full_name)

    def _fill_message(self, message: Descriptor, schema: Schema) -> None:
        properties: dict[str, Schema] = {}
        for field in message.fields:
            about = self._field_text(message, field)
            prop = self._described(self.field_schema(field), about)
            if _output_only(field, about):
                prop = {**prop, "readOnly": True}
            properties[field.name] = prop
        schema["properties"] = properties
        text = [self.comments.get(message.full_name, "")]
        for oneof in message.oneofs:
            if _synthetic(oneof):
                continue  # the synthetic oneof of a proto3 `optional` field
            names = ", ".join(f.name for f in oneof.fields)
            about = self.comments.get(f"{message.full_name}.{oneof.name}", "")
            text.append(f"Oneof {oneof.name}: {about} At most one of {names} is set.")
        if description := "\n\n".join(t for t in text if t):
            schema["description"] = description

    def _field_text(self, message: Descriptor, field: FieldDescriptor) -> str:
        text = [self.comments.get(f"{message.full_name}.{field.name}", "")]
        oneof = field.containing_oneof
        if oneof is not None and not _synthetic(oneof):
            others = ", ".join(f.name for f in oneof.fields if f is not field)
            text.append(
                f"Member of oneof {oneof.name}"
                + (f": set at most one of this and {others}." if others else ".")
            )
        return " ".join(t for t in text if t)

    @staticmethod
    def _described(schema: Schema, text: str) -> Schema:
        if not text:
            return schema
        if "$ref" in schema:
            # OpenAPI 3.0 ignores the siblings of $ref; allOf keeps the description.
            return {"allOf": [schema], "description": text}
        if "description" in schema:
            return {**schema, "description": f"{text} {schema['description']}"}
        return {**schema, "description": text}

    # -- operations --

    def query_parameters(
        self, message: Descriptor, prefix: str, skip: frozenset[str], seen: tuple[str, ...]
    ) -> list[Schema]:
        """Fields not bound by the path or the body travel in the query, nested messages
        flattened to dotted names as the transcoder reads them; maps and repeated messages
        cannot be expressed there and are left out."""
        params: list[Schema] = []
        for field in message.fields:
            name = prefix + field.name
            if name in skip or _is_map(field):
                continue
            sub = field.message_type
            if sub is not None and sub.full_name not in _QUERY_WELL_KNOWN:
                if field.is_repeated or sub.full_name in seen:
                    continue
                params += self.query_parameters(sub, name + ".", skip, (*seen, sub.full_name))
                continue
            param: Schema = {"name": name, "in": "query", "required": False}
            param["schema"] = self.field_schema(field)
            if field.is_repeated:
                param["style"], param["explode"] = "form", True
            if text := self._field_text(message, field):
                param["description"] = text
            params.append(param)
        return params

    def operation(
        self,
        service: ServiceDescriptor,
        method: MethodDescriptor,
        rule: http_pb2.HttpRule,
        index: int,
        path: str,
    ) -> Schema:
        request = method.input_type
        bound = path_variables(path)
        params: list[Schema] = []
        for field_path, segments in bound:
            field = _field_at(request, field_path)
            name = parameter_name(field_path)
            if name != field_path and name in request.fields_by_name:
                raise ValueError(
                    f"{method.full_name}: path variable {field_path} clashes with field {name}"
                )
            param: Schema = {
                "name": name,
                "in": "path",
                "required": True,
                "schema": self.field_schema(field),
            }
            if name != field_path:
                param["x-field-path"] = field_path
            text = self._field_text(_field_at_parent(request, field_path), field)
            if segments and segments != "*":
                text = f"{text} Matches {segments}.".strip()
            if text:
                param["description"] = text
            params.append(param)
        bound_names = frozenset(name for name, _ in bound)

        op: Schema = {
            "operationId": f"{service.name}_{method.name}" + (f"_{index + 1}" if index else ""),
            "tags": [service.name],
        }
        comment = self.comments.get(method.full_name, "")
        if comment:
            op["summary"] = _first_sentence(comment)
            op["description"] = comment
        if rule.body == "*":
            # Fields in the path are taken from the path; the body holds the rest.
            op["requestBody"] = self._body(self._whole_body(request, bound_names))
        elif rule.body:
            op["requestBody"] = self._body(
                self.field_schema(_field_at(request, rule.body)), required=True
            )
            params += self.query_parameters(
                request, "", bound_names | {rule.body}, (request.full_name,)
            )
        else:
            params += self.query_parameters(request, "", bound_names, (request.full_name,))
        if params:
            op["parameters"] = params

        response = (
            self.field_schema(_field_at(method.output_type, rule.response_body))
            if rule.response_body
            else self.message_ref(method.output_type)
        )
        ok: Schema = {"description": "OK"}
        if method.server_streaming:
            response = {"type": "array", "items": response}
            ok["description"] = "A stream of messages, as one JSON array."
            op["description"] = f"{op.get('description', '')}\n\n{_STREAM_NOTE}".strip()
            op["x-server-streaming"] = True
        ok["content"] = {"application/json": {"schema": response}}
        op["responses"] = self._responses(method, ok)
        if f"/{service.full_name}/{method.name}" in OPEN_METHODS:
            op["security"] = []
        return op

    def _whole_body(self, request: Descriptor, bound: frozenset[str]) -> Schema:
        top = {name.split(".")[0] for name in bound}
        if not top:
            return self.message_ref(request)
        ref = self.message_ref(request)  # registers the message and its dependencies
        full = self.schemas[ref["$ref"].rsplit("/", 1)[1]]
        rest: Schema = {
            "type": "object",
            "properties": {k: v for k, v in full["properties"].items() if k not in top},
        }
        if "description" in full:
            rest["description"] = full["description"]
        return rest

    @staticmethod
    def _body(schema: Schema, *, required: bool = False) -> Schema:
        body: Schema = {"content": {"application/json": {"schema": schema}}}
        if required:
            body["required"] = True
        return body

    def _responses(self, method: MethodDescriptor, ok: Schema) -> Schema:
        status = self.message_ref(status_pb2.Status.DESCRIPTOR)
        error = {"application/json": {"schema": status}}
        responses: Schema = {
            "200": ok,
            "default": {"description": "An error, as google.rpc.Status.", "content": error},
        }
        service = method.containing_service
        codes = list(_METHOD_CODES.get(method.full_name, ()))
        if f"/{service.full_name}/{method.name}" not in OPEN_METHODS:
            codes += ["UNAUTHENTICATED", "UNAVAILABLE"]
        by_status: dict[str, list[str]] = {}
        for code in codes:
            by_status.setdefault(_HTTP_STATUS[code], []).append(code)
        for http_status, names in sorted(by_status.items()):
            text = "; ".join(f"{name}: {_CODE_MEANING[name]}" for name in names)
            responses[http_status] = {"description": text, "content": error}
        return responses


def _field_at_parent(message: Descriptor, path: str) -> Descriptor:
    parent = message
    for part in path.split(".")[:-1]:
        parent = _message(parent.fields_by_name[part])
    return parent


def openapi_document(
    services: Sequence[ServiceDescriptor] | None = None,
    *,
    comments: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of every annotated RPC of `services` (default: the
    IntentService and LifecycleService). `comments` maps proto full names (and
    `<enum>.<VALUE>`) to descriptions, as `proto_comments` reads them; without it the
    document has no prose but is otherwise the same."""
    builder = _Builder(comments or {})
    services = client_services() if services is None else services
    paths: dict[str, dict[str, Schema]] = {}
    tags: list[Schema] = []
    for service in services:
        tag: Schema = {"name": service.name}
        if text := builder.comments.get(service.full_name):
            tag["description"] = text
        tags.append(tag)
        for method in service.methods:
            for index, rule in enumerate(http_rules(method)):
                verb, template = rule_verb_and_path(rule)
                path = openapi_path(template)
                item = paths.setdefault(path, {})
                if verb in item:
                    raise ValueError(f"{verb.upper()} {path} is bound twice")
                item[verb] = builder.operation(service, method, rule, index, template)
    builder.message_ref(status_pb2.Status.DESCRIPTOR)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "traffic-controller",
            "version": "v1",
            "description": (
                "REST API of the traffic-controller, served by Envoy's gRPC-JSON transcoder "
                "in front of the gRPC services and generated from their google.api.http "
                "annotations. JSON uses proto field names; responses carry every field that "
                "has no presence, with its default value, while unset message fields are "
                "left out. 64-bit integers are strings, enums are their value names, bytes "
                "are base64. Errors are google.rpc.Status with the HTTP status mapped from "
                "the gRPC code."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8080"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": builder.schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token issued with `python -m tc.server.auth add-token`.",
                }
            },
        },
        "security": [{"bearerAuth": []}],
    }


# -- comments from the .proto sources --

_DECL = re.compile(r"^(message|enum|service|oneof)\s+(\w+)\s*\{")
_RPC = re.compile(r"^rpc\s+(\w+)\s*\(")
_FIELD = re.compile(r"^(?:(?:repeated|optional)\s+)?(?:map\s*<[^>]*>|[\w.]+)\s+(\w+)\s*=\s*\d+")
_ENUM_VALUE = re.compile(r"^(\w+)\s*=\s*-?\d+")
_PACKAGE = re.compile(r"^package\s+([\w.]+)\s*;")
# What a declaration inside each kind of block looks like.
_MEMBER = {"service": _RPC, "message": _FIELD, "enum": _ENUM_VALUE}


def proto_comments(sources: Iterable[str]) -> dict[str, str]:
    """Leading `//` comments of the declarations in .proto sources, by full name.

    A small line-based reader rather than a parser: the repository's protos keep one
    declaration per line, which is all protoc's style guide produces; a declaration it does
    not recognise simply gets no description. Enum values are keyed `<enum>.<VALUE>`."""
    found: dict[str, str] = {}
    for source in sources:
        package = ""
        # Each scope is (full name, kind); blocks such as option literals push ("", "").
        scopes: list[tuple[str, str]] = []
        pending: list[str] = []
        for raw in source.splitlines():
            line = raw.strip()
            if line.startswith("//"):
                pending.append(line[2:].strip())
                continue
            code = line.split("//", 1)[0].strip()
            text = "\n".join(pending).strip()
            pending = []
            if not code:
                continue
            owner, kind = scopes[-1] if scopes else (package, "file")
            if match := _PACKAGE.match(code):
                package = match.group(1)
            elif match := _DECL.match(code):
                decl, name = match.groups()
                if decl == "oneof":
                    # Oneof members are fields of the enclosing message.
                    scopes.append((owner, "message"))
                    _put(found, f"{owner}.{name}", text)
                else:
                    full = f"{owner}.{name}" if owner else name
                    _put(found, full, text)
                    scopes.append((full, decl))
                # Braces after the declaration's own, as in `message Empty {}`.
                code = code.split("{", 1)[1]
            elif match := _MEMBER[kind].match(code) if kind in _MEMBER else None:
                _put(found, f"{owner}.{match.group(1)}", text)
            for char in code:
                if char == "{":
                    scopes.append(("", ""))
                elif char == "}" and scopes:
                    scopes.pop()
    return found


def _put(found: dict[str, str], name: str, text: str) -> None:
    if text:
        # Proto comments wrap at the source's line width; a description reads better unwrapped.
        found[name] = " ".join(text.split("\n"))


def repository_comments(protos: Path = PROTOS) -> dict[str, str]:
    """`proto_comments` of every .proto under `protos`; empty when the sources are absent
    (an installed package has only the generated modules)."""
    if not protos.is_dir():
        return {}
    return proto_comments(p.read_text() for p in sorted(protos.rglob("*.proto")))


def render(document: Mapping[str, Any]) -> str:
    """The committed form of the document: stable key order so diffs show real changes."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tc.gateway.openapi",
        description="Print (or write) the OpenAPI document of the REST gateway.",
    )
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    parser.add_argument(
        "--protos", type=Path, default=PROTOS, help="proto sources, for descriptions"
    )
    args = parser.parse_args(argv)
    text = render(openapi_document(comments=repository_comments(args.protos)))
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
