"""Golden files for the envoy renderer.

Each tests/golden/<case>.in.yaml (shared with the istio plugin's golden test) is rendered
as the envoy plugin would: its service with its workloads, assembled into the resources a
proxy receives. <case>.envoy.out.yaml holds an `errors:` document first when any intent
fails, then the resources as protojson (camelCase, as Envoy's own docs show them),
grouped by type in ADS order and sorted by name. `pytest --update-golden` rewrites them,
to be reviewed in the diff.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
import yaml
from google.protobuf import json_format

from tc import ir
from tc._proto.tc.v1 import intent_pb2
from tc.convert import intent_from_proto
from tc.plugins.envoy.assembly import assemble
from tc.plugins.envoy.render import ServiceParts, render_service
from tc.plugins.envoy.resources import TYPE_URLS, Resources
from tests.conftest import check_golden
from tests.unit.test_istio_golden import CASES, GOLDEN, load_case

ISTIO_ONLY_FAILURES = {
    # Istio's rules (a Kubernetes Service name, durations of at least 1ms, a gateway that
    # serves HTTP only, authorization needing a sidecar): Envoy as the load balancer takes it.
    "fail-service-checks",
}


def run_case(
    documents: list[dict[str, Any]],
) -> tuple[ServiceParts | None, list[dict[str, str]]]:
    """Converts the documents as ApplyIntent would, then renders; every error with the
    intent it belongs to."""
    errors: list[dict[str, str]] = []
    services: list[ir.Intent] = []
    workloads: list[ir.Intent] = []
    for document in documents:
        pb = json_format.ParseDict(document, intent_pb2.Intent())
        try:
            intent = intent_from_proto(pb)
        except ir.InvalidIntentError as exc:
            errors.extend(
                {"intent": pb.name, "path": e.path, "message": e.message} for e in exc.errors
            )
            continue
        (services if intent.kind is ir.IntentKind.SERVICE else workloads).append(intent)
    if not services:
        return None, errors
    assert len(services) == 1, "a case holds one service intent"
    service = services[0]
    parts = render_service(service, workloads)
    errors.extend(
        {"intent": service.name, "path": e.path, "message": e.message} for e in parts.errors
    )
    for name in sorted(parts.workload_errors):
        errors.extend(
            {"intent": name, "path": e.path, "message": e.message}
            for e in parts.workload_errors[name]
        )
    return parts, errors


def case_resources(case: str) -> Resources:
    documents = load_case(case)
    parts, _ = run_case(documents)
    assert parts is not None
    service = next(d["name"] for d in documents if "service" in d)
    return assemble({service: parts})


def resources_document(resources: Resources) -> dict[str, list[dict[str, Any]]]:
    return {
        type_url.rpartition(".")[2]: [
            # Any fields come back as OrderedDict, which YAML would tag: plain dicts instead.
            json.loads(
                json.dumps(json_format.MessageToDict(message, preserving_proto_field_name=False))
            )
            for _, message in sorted(resources[type_url].items())
        ]
        for type_url in TYPE_URLS
    }


def dump(documents: list[dict[str, Any]]) -> str:
    parts, errors = run_case(documents)
    out: list[Any] = []
    if errors:
        out.append({"errors": errors})
    if parts is not None and not parts.errors:
        service = next(d["name"] for d in documents if "service" in d)
        out.append(resources_document(assemble({service: parts})))
    return yaml.safe_dump_all(out, sort_keys=True, default_flow_style=False, width=100)


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, update_golden: bool) -> None:
    documents = load_case(case)
    text = dump(documents)
    check_golden(GOLDEN / f"{case}.envoy.out.yaml", text, update_golden)
    _, errors = run_case(documents)
    failing = case.startswith("fail-") and case not in ISTIO_ONLY_FAILURES
    assert bool(errors) == failing, errors


@pytest.mark.parametrize("case", CASES)
def test_order_of_workloads_does_not_matter(case: str) -> None:
    documents = load_case(case)
    expected = dump(documents)
    shuffled = copy.deepcopy(documents)
    random.Random(case).shuffle(shuffled)
    assert dump(list(reversed(shuffled))) == expected
    assert dump(shuffled) == expected
