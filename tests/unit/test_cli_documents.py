"""Intent files as people write them: the shapes `tcctl apply` reads and the errors it gives.

Pure: no controller, only text in and Intent messages (or located errors) out.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from google.protobuf.descriptor import EnumDescriptor

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2, plugin_pb2
from tc.cli import enums
from tc.cli.documents import (
    DocumentErrors,
    load_documents,
    parse_text,
    to_intent,
)

WEB_YAML = """\
name: web
labels: {team: shop}
service:
  hosts: [web.example.com]
  ports:
    - {number: 80, protocol: http}
  endpoints:
    - {address: 10.0.0.1}
"""


def parsed(text: str, source: str = "intents.yaml", *, syntax: str | None = None) -> list[str]:
    documents, errors = parse_text(text, source, syntax=syntax)
    assert errors == []
    return [document.intent.name for document in documents]


def problems(text: str, source: str = "intents.yaml", *, syntax: str | None = None) -> list[str]:
    _, errors = parse_text(text, source, syntax=syntax)
    assert errors
    return [str(error) for error in errors]


def test_one_yaml_document_becomes_an_intent() -> None:
    [document], errors = parse_text(WEB_YAML, "web.yaml")
    assert errors == []
    intent = document.intent
    assert document.location == "web.yaml document 1"
    assert intent.name == "web"
    assert dict(intent.labels) == {"team": "shop"}
    assert intent.WhichOneof("spec") == "service"
    assert intent.service.ports[0].number == 80
    assert intent.service.ports[0].protocol == intent_pb2.PROTOCOL_HTTP


def test_multi_document_yaml_skips_empty_documents() -> None:
    # A leading `---` opens the first document; the empty third one is skipped.
    text = (
        "---\nname: a\ndns: {zone: example.com}\n---\n---\nname: b\ndns: {zone: example.org}\n---\n"
    )
    documents, errors = parse_text(text, "many.yaml")
    assert errors == []
    assert [(d.location, d.intent.name) for d in documents] == [
        ("many.yaml document 1", "a"),
        ("many.yaml document 3", "b"),
    ]


def test_json_array_and_single_object() -> None:
    array = '[{"name": "a", "dns": {"zone": "x.org"}}, {"name": "b", "dns": {"zone": "y.org"}}]'
    assert parsed(array, "many.json", syntax="json") == ["a", "b"]
    assert parsed('{"name": "solo", "dns": {"zone": "x.org"}}', "one.json", syntax="json") == [
        "solo"
    ]


def test_json_without_the_json_extension_is_recognised() -> None:
    assert parsed('[{"name": "a"}, {"name": "b"}]', "<stdin>") == ["a", "b"]


def test_yaml_flow_mapping_is_not_mistaken_for_json() -> None:
    assert parsed("{name: flow, dns: {zone: x.org}}") == ["flow"]


def test_items_lists_in_yaml_and_json() -> None:
    yaml_list = "kind: List\nitems:\n  - name: a\n  - name: b\n---\nname: c\n"
    documents, errors = parse_text(yaml_list, "list.yaml")
    assert errors == []
    assert [(d.location, d.intent.name) for d in documents] == [
        ("list.yaml document 1 item 1", "a"),
        ("list.yaml document 1 item 2", "b"),
        ("list.yaml document 2", "c"),
    ]
    assert parsed('{"items": [{"name": "x"}, {"name": "y"}]}', "l.json", syntax="json") == [
        "x",
        "y",
    ]
    assert parsed("items: []\n") == []


def test_a_top_level_yaml_list_is_a_list_of_intents() -> None:
    assert parsed("- name: a\n- name: b\n") == ["a", "b"]


def test_proto_names_and_lower_camel_both_work() -> None:
    snake = "name: a\nservice:\n  traffic_policy: {lb_algorithm: LB_ALGORITHM_MAGLEV}\n"
    camel = "name: a\nservice:\n  trafficPolicy: {lbAlgorithm: LB_ALGORITHM_MAGLEV}\n"
    for text in (snake, camel):
        [document], _ = parse_text(text, "x.yaml")
        assert document.intent.service.traffic_policy.lb_algorithm == (
            intent_pb2.LB_ALGORITHM_MAGLEV
        )


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("PROTOCOL_GRPC", intent_pb2.PROTOCOL_GRPC),
        ("GRPC", intent_pb2.PROTOCOL_GRPC),
        ("grpc", intent_pb2.PROTOCOL_GRPC),
        ("http2", intent_pb2.PROTOCOL_HTTP2),
        ("protocol_tcp", intent_pb2.PROTOCOL_TCP),
        (3, intent_pb2.PROTOCOL_GRPC),
    ],
)
def test_short_enum_names(written: object, expected: int) -> None:
    intent = to_intent({"name": "a", "service": {"ports": [{"number": 1, "protocol": written}]}})
    assert intent.service.ports[0].protocol == expected


def test_short_enums_everywhere_in_the_tree() -> None:
    intent = to_intent(
        {
            "name": "a",
            "service": {
                "exposure": {"visibility": "external", "gatewayHost": "a.example.com"},
                "trafficPolicy": {"lbAlgorithm": "round-robin"},
                "healthCheck": {"type": "grpc"},
            },
        }
    )
    assert intent.service.exposure.visibility == intent_pb2.VISIBILITY_EXTERNAL
    assert intent.service.traffic_policy.lb_algorithm == intent_pb2.LB_ALGORITHM_ROUND_ROBIN
    assert intent.service.health_check.type == intent_pb2.HEALTH_CHECK_TYPE_GRPC
    dns = to_intent(
        {
            "name": "d",
            "dns": {
                "zone": "example.com",
                "policy": "upsert-only",
                "records": [{"name": "www", "type": "cname", "values": ["web"]}],
            },
        }
    )
    assert dns.dns.policy == intent_pb2.DNS_POLICY_UPSERT_ONLY
    assert dns.dns.records[0].type == intent_pb2.RECORD_TYPE_CNAME
    status = to_intent(
        {"name": "s", "status": {"conditions": [{"type": "Ready", "status": "true"}]}}
    )
    assert status.status.conditions[0].status == intent_pb2.CONDITION_STATUS_TRUE


def test_unknown_short_enum_lists_the_choices_and_the_path() -> None:
    [problem] = problems("name: a\nservice:\n  ports:\n    - {number: 80, protocol: htp}\n")
    assert problem == (
        "intents.yaml document 1: invalid protocol 'htp' at service.ports[0].protocol: "
        "expected one of HTTP, HTTP2, GRPC, TCP, TLS"
    )


def test_timestamps_stay_strings_so_get_output_applies_back() -> None:
    text = "name: a\ncreate_time: 2024-05-01T10:00:00Z\ngeneration: '3'\n"
    [document], errors = parse_text(text, "x.yaml")
    assert errors == []
    assert document.intent.create_time.seconds == 1714557600
    assert document.intent.generation == 3


def test_unknown_field_names_the_file_and_document() -> None:
    text = "name: ok\n---\nname: bad\nservice:\n  hostz: [a]\n"
    [problem] = problems(text, "apps.yaml")
    assert problem.startswith("apps.yaml document 2: ")
    assert 'no field named "hostz"' in problem
    assert "\n" not in problem


def test_nested_parse_errors_read_as_one_line_with_the_field_path() -> None:
    [problem] = problems("name: a\nservice:\n  ports:\n    - number: eighty\n")
    assert problem.startswith("intents.yaml document 1: ports.number: ")
    assert "eighty" in problem


def test_every_bad_document_is_reported_not_only_the_first() -> None:
    text = "- 42\n- name: fine\n- name: a\n  service: {}\n  dns: {}\n"
    found = problems(text)
    assert (
        found[0] == "intents.yaml document 1 item 1: expected an intent (a mapping), got a number"
    )
    assert found[1].startswith("intents.yaml document 1 item 3: ")
    assert "oneof" in found[1]


def test_yaml_syntax_error_gives_document_line_and_column() -> None:
    text = "name: a\n---\nname: b\nlabels: [unclosed\n"
    [problem] = problems(text, "broken.yaml")
    assert problem.startswith("broken.yaml document 2: invalid YAML at line ")


def test_json_syntax_error_in_a_json_file() -> None:
    [problem] = problems('{"name": "a",}', "bad.json", syntax="json")
    assert problem.startswith("bad.json: invalid JSON at line 1, column 14: ")


def test_broken_json_on_stdin_reports_the_json_error() -> None:
    [problem] = problems('[{"name": "a"]', "<stdin>")
    assert problem.startswith("<stdin>: invalid JSON at line 1")


def test_items_must_be_a_list_and_stand_alone() -> None:
    assert problems("items: {name: a}\n") == [
        "intents.yaml document 1: `items` must be a list, got a mapping"
    ]
    assert problems("items: []\nname: a\n") == [
        "intents.yaml document 1: a list with `items` has unexpected keys: name"
    ]


def test_a_scalar_where_a_message_belongs_says_so() -> None:
    assert problems("name: a\nservice:\n  exposure: external\n") == [
        "intents.yaml document 1: service.exposure: expected a mapping, got a string"
    ]


def test_broken_flow_yaml_in_a_yaml_file_gets_a_yaml_error() -> None:
    [problem] = problems("{name: a", "flow.yaml", syntax="yaml")
    assert problem.startswith("flow.yaml document 1: invalid YAML at line ")


def test_wrong_value_types_are_errors_not_crashes() -> None:
    for text in ("name: [a]\n", "name: a\nlabels: [x]\n", "name: a\nservice: text\n"):
        [problem] = problems(text)
        assert problem.startswith("intents.yaml document 1: ")


def test_load_documents_reads_files_and_stdin_and_collects_every_error(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(WEB_YAML, encoding="utf-8")
    bom = tmp_path / "bom.json"
    bom.write_bytes('\ufeff{"name": "bom"}'.encode())
    stdin = io.StringIO("name: piped\n")
    documents = load_documents([str(good), "-", str(bom)], stdin)
    assert [d.intent.name for d in documents] == ["web", "piped", "bom"]
    assert documents[1].location == "<stdin> document 1"

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: a\nnope: 1\n", encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    with pytest.raises(DocumentErrors) as caught:
        load_documents([str(missing), str(good), str(bad)], io.StringIO())
    messages = [str(error) for error in caught.value.errors]
    assert len(messages) == 2
    assert messages[0] == f"{missing}: cannot read: No such file or directory"
    assert messages[1].startswith(f"{bad} document 1: ")


def _all_enums() -> list[EnumDescriptor]:
    found: list[EnumDescriptor] = []
    for module in (intent_pb2, lifecycle_pb2, plugin_pb2):
        found.extend(module.DESCRIPTOR.enum_types_by_name.values())
    return found


@pytest.mark.parametrize("enum", _all_enums(), ids=lambda enum: enum.name)
def test_every_enum_value_round_trips_through_its_short_name(enum: EnumDescriptor) -> None:
    for value in enum.values:
        short = enums.short_name(enum, value.number)
        assert not short.startswith(enums.value_prefix(enum))
        assert enums.full_name(enum, short) == value.name
        assert enums.full_name(enum, short.lower()) == value.name
        assert enums.full_name(enum, value.name) == value.name
    assert enums.full_name(enum, "no-such-value") is None
