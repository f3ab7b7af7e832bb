"""Golden files for the istio renderer, and every rendered object against Istio's schema.

Each tests/golden/<case>.in.yaml is a list of intent documents as users write them
(protojson: one service and any workloads on it, an optional `generation`); the
<case>.istio.out.yaml beside it is what the renderer makes of them: an `errors:` document
first when any intent fails, then the objects, one YAML document each. `pytest
--update-golden` rewrites the outputs, to be reviewed in the diff.

The schema is Istio's own, as published in the cloudcoil-models-istio package: pydantic
models generated from Istio's CRD OpenAPI schemas. Those models accept and drop fields
they do not know, so an object is valid only when the model takes it without error and
gives back exactly the same document: a misspelt field or a value the schema would coerce
shows up as a difference.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from cloudcoil.models.istio.networking import v1 as networking
from cloudcoil.models.istio.security import v1 as security
from google.protobuf import json_format

from tc import ir
from tc._proto.tc.v1 import intent_pb2
from tc.convert import intent_from_proto
from tc.plugins.istio.render import Rendered, render
from tests.conftest import check_golden

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = sorted(path.name.removesuffix(".in.yaml") for path in GOLDEN.glob("*.in.yaml"))

SCHEMAS: dict[tuple[str, str], type[pydantic.BaseModel]] = {
    ("networking.istio.io/v1", "DestinationRule"): networking.DestinationRule,
    ("networking.istio.io/v1", "Gateway"): networking.Gateway,
    ("networking.istio.io/v1", "ServiceEntry"): networking.ServiceEntry,
    ("networking.istio.io/v1", "VirtualService"): networking.VirtualService,
    ("security.istio.io/v1", "AuthorizationPolicy"): security.AuthorizationPolicy,
}


# --- schema validation -----------------------------------------------------------------


def _differences(sent: Any, back: Any, path: str) -> Iterator[str]:
    if isinstance(sent, Mapping) and isinstance(back, Mapping):
        for key in sent:
            where = f"{path}.{key}" if path else str(key)
            if key not in back:
                yield f"{where}: not in the schema"
            else:
                yield from _differences(sent[key], back[key], where)
        return
    if isinstance(sent, list) and isinstance(back, list) and len(sent) == len(back):
        for i, (a, b) in enumerate(zip(sent, back, strict=True)):
            yield from _differences(a, b, f"{path}[{i}]")
        return
    if sent != back or type(sent) is not type(back):
        yield f"{path}: {sent!r} is read as {back!r}"


def schema_problems(obj: Mapping[str, Any]) -> list[str]:
    """Why Istio's CRD schema refuses `obj`; empty when it accepts it unchanged."""
    model = SCHEMAS.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if model is None:
        return [f"no schema for {obj.get('apiVersion')} {obj.get('kind')}"]
    try:
        # Strict: "5" is no integer, as the API server's structural schema also says.
        parsed = model.model_validate(obj, strict=True)
    except pydantic.ValidationError as exc:
        return [
            f"{'.'.join(map(str, error['loc']))}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
    back = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return list(_differences(obj, back, ""))


# --- cases -------------------------------------------------------------------------------


def load_case(name: str) -> list[dict[str, Any]]:
    documents = yaml.safe_load((GOLDEN / f"{name}.in.yaml").read_text())
    assert isinstance(documents, list), f"{name}.in.yaml must be a list of intent documents"
    return documents


def run_case(documents: list[dict[str, Any]]) -> tuple[Rendered | None, list[dict[str, str]]]:
    """Converts the documents as ApplyIntent would, then renders. Returns the outcome and
    every error, each with the intent it belongs to."""
    errors: list[dict[str, str]] = []
    services: list[tuple[ir.Intent, int]] = []
    workloads: list[ir.Intent] = []
    generations: dict[str, int] = {}
    for document in documents:
        pb = json_format.ParseDict(document, intent_pb2.Intent())
        try:
            intent = intent_from_proto(pb)
        except ir.InvalidIntentError as exc:
            # Refused at the API edge: the plugin never sees it, the service renders without it.
            errors.extend(
                {"intent": pb.name, "path": e.path, "message": e.message} for e in exc.errors
            )
            continue
        generation = pb.generation or 1
        if intent.kind is ir.IntentKind.SERVICE:
            services.append((intent, generation))
        else:
            workloads.append(intent)
            generations[intent.name] = generation
    if not services:
        return None, errors
    assert len(services) == 1, "a case holds one service intent"
    service, generation = services[0]
    rendered = render(service, workloads, generation, generations)
    for name in [service.name, *sorted(rendered.workload_errors)]:
        errors.extend(
            {"intent": name, "path": e.path, "message": e.message} for e in rendered.errors_of(name)
        )
    return rendered, errors


def dump(rendered: Rendered | None, errors: list[dict[str, str]]) -> str:
    documents: list[Any] = []
    if errors:
        documents.append({"errors": errors})
    if rendered is not None:
        documents.extend(rendered.objects)
    return yaml.safe_dump_all(documents, sort_keys=True, default_flow_style=False, width=100)


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 14
    failing = [case for case in CASES if case.startswith("fail-")]
    assert len(failing) >= 2


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, update_golden: bool) -> None:
    rendered, errors = run_case(load_case(case))
    text = dump(rendered, errors)
    check_golden(GOLDEN / f"{case}.istio.out.yaml", text, update_golden)
    # A case named fail-* must fail, and only those may: a typo in an input would
    # otherwise pin an error as the expected output.
    assert bool(errors) == case.startswith("fail-"), errors


@pytest.mark.parametrize("case", CASES)
def test_every_object_fits_istios_schema(case: str) -> None:
    rendered, _ = run_case(load_case(case))
    objects = rendered.objects if rendered is not None else []
    problems = {
        f"{o['kind']}/{o['metadata']['name']}": schema_problems(o)
        for o in objects
        if schema_problems(o)
    }
    assert problems == {}


@pytest.mark.parametrize("case", CASES)
def test_order_of_workloads_does_not_matter(case: str) -> None:
    documents = load_case(case)
    expected = dump(*run_case(documents))
    shuffled = copy.deepcopy(documents)
    random.Random(case).shuffle(shuffled)
    assert dump(*run_case(list(reversed(shuffled)))) == expected
    assert dump(*run_case(shuffled)) == expected


def _object(case: str, kind: str) -> dict[str, Any]:
    rendered, _ = run_case(load_case(case))
    assert rendered is not None
    return next(copy.deepcopy(o) for o in rendered.objects if o["kind"] == kind)


@pytest.mark.parametrize(
    ("case", "kind", "breakage", "expected"),
    [
        (
            "canary-90-10",
            "VirtualService",
            lambda o: o["spec"]["http"][0].update(retrys={"attempts": 3}),
            "spec.http[0].retrys: not in the schema",
        ),
        (
            "outlier-detection",
            "DestinationRule",
            lambda o: o["spec"]["trafficPolicy"].update(loadBalancer={"simple": "FASTEST"}),
            "loadBalancer",
        ),
        (
            "outlier-detection",
            "DestinationRule",
            lambda o: o["spec"]["trafficPolicy"]["outlierDetection"].update(
                consecutive5xxErrors="7"
            ),
            "consecutive5xxErrors",
        ),
        (
            "external-tls",
            "Gateway",
            lambda o: o["spec"]["servers"][0]["tls"].update(mode="TERMINATE"),
            "mode",
        ),
        (
            "service-entry-external",
            "ServiceEntry",
            lambda o: o["spec"].update(location="OUTSIDE"),
            "location",
        ),
        (
            "allowed-clients",
            "AuthorizationPolicy",
            lambda o: o["spec"].update(action="PERMIT"),
            "action",
        ),
    ],
)
def test_the_schema_check_can_fail(case: str, kind: str, breakage: Any, expected: str) -> None:
    """A deliberately broken object is refused, so the check above is not vacuous."""
    obj = _object(case, kind)
    assert schema_problems(obj) == []
    breakage(obj)
    problems = schema_problems(obj)
    assert any(expected in problem for problem in problems), problems


def test_unknown_kind_has_no_schema() -> None:
    assert schema_problems({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar2"}) != []
