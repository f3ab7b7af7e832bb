"""Golden files for the dns renderer.

Each tests/golden/<case>.in.yaml (shared with the istio and envoy golden tests) and each
tests/golden/dns/<case>.in.yaml is rendered as the dns plugin would with no configured
zones and no ownership affix: every intent through render_all. <case>.dns.out.yaml beside
it holds an `errors:` document first when any intent fails, then the wanted record sets as
plain data sorted by zone, name and type. `pytest --update-golden` rewrites them, to be
reviewed in the diff.

Cases with DNS intents live in their own directory: the istio and envoy golden tests take
every intent of a shared case but its one service for a workload, and check that every
case they accept has a service.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
import yaml
from google.protobuf import json_format

from tc import ir
from tc._proto.tc.v1 import intent_pb2
from tc.convert import intent_from_proto
from tc.plugins.dns.render import Wanted, render_all
from tests.conftest import check_golden
from tests.unit.test_istio_golden import CASES as SHARED_CASES
from tests.unit.test_istio_golden import GOLDEN, load_case

DNS_GOLDEN = GOLDEN / "dns"
DNS_CASES = sorted(path.name.removesuffix(".in.yaml") for path in DNS_GOLDEN.glob("*.in.yaml"))
CASES = [*SHARED_CASES, *(f"dns/{case}" for case in DNS_CASES)]

# Failing cases whose failures are the mesh's business (workload rules, Istio's own
# limits): the dns plugin sees valid intents there.
NOT_DNS_FAILURES = {
    "fail-conflicting-workloads",
    "fail-service-checks",
    "fail-unknown-subset",
}
DNS_FAILURES = {"dns/dns-collision"}


def run_case(documents: list[dict[str, Any]]) -> tuple[list[Wanted], list[dict[str, str]]]:
    """Converts the documents as ApplyIntent would, then renders them all together; every
    error with the intent it belongs to, in intent name order."""
    errors: dict[str, list[dict[str, str]]] = {}
    intents: list[ir.Intent] = []
    for document in documents:
        pb = json_format.ParseDict(document, intent_pb2.Intent())
        try:
            intents.append(intent_from_proto(pb))
        except ir.InvalidIntentError as exc:
            errors[pb.name] = [{"path": e.path, "message": e.message} for e in exc.errors]
    wanted, failures = render_all(intents, zones=())
    for name, field_errors in failures.items():
        errors[name] = [{"path": e.path, "message": e.message} for e in field_errors]
    flat = [{"intent": name, **e} for name in sorted(errors) for e in errors[name]]
    return wanted, flat


def dump(documents: list[dict[str, Any]]) -> str:
    wanted, errors = run_case(documents)
    out: list[Any] = []
    if errors:
        out.append({"errors": errors})
    records = [
        {
            "zone": w.zone,
            "name": w.record.name,
            "type": w.record.type,
            "ttl": w.record.ttl,
            "values": list(w.record.values),
            "intent": w.intent,
            "policy": w.policy.value,
        }
        for w in wanted
    ]
    out.append({"records": records})
    return yaml.safe_dump_all(out, sort_keys=True, default_flow_style=False, width=100)


def test_there_are_dns_cases() -> None:
    with_dns = [case for case in CASES if "records: []" not in dump(load_case(case))]
    assert len(with_dns) >= 3
    assert set(CASES) >= DNS_FAILURES
    assert set(CASES) >= NOT_DNS_FAILURES


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, update_golden: bool) -> None:
    documents = load_case(case)
    text = dump(documents)
    check_golden(GOLDEN / f"{case}.dns.out.yaml", text, update_golden)
    _, errors = run_case(documents)
    failing = (case.startswith("fail-") and case not in NOT_DNS_FAILURES) or (case in DNS_FAILURES)
    assert bool(errors) == failing, errors


@pytest.mark.parametrize("case", CASES)
def test_order_of_intents_does_not_matter(case: str) -> None:
    documents = load_case(case)
    expected = dump(documents)
    shuffled = copy.deepcopy(documents)
    random.Random(case).shuffle(shuffled)
    assert dump(list(reversed(shuffled))) == expected
    assert dump(shuffled) == expected
