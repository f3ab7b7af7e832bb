"""Folding plugin answers into intent conditions, with plain data."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tc._proto.tc.v1 import intent_pb2
from tc.server import status
from tc.server.status import Outcome

OK = Outcome(3, True, True)
OLD_OK = Outcome(2, True, True)
REJECTED = Outcome(3, False, False, "BadHost", "host is not in any zone")
FAILED = Outcome(3, True, False, "Conflict", "record owned by someone else", retryable=True)
DOWN = status.unavailable(3, "p-0: UNAVAILABLE: connection refused")


def conds(st: intent_pb2.IntentStatus) -> dict[str, tuple[int, str]]:
    return {c.type: (c.status, c.reason) for c in st.conditions}


@pytest.mark.parametrize(
    ("outcomes", "ready", "programmed", "reason", "retry"),
    [
        ({"p-0": OK, "p-1": OK}, ["p-0", "p-1"], True, "Programmed", False),
        ({"p-0": OK, "p-1": OLD_OK}, ["p-0", "p-1"], None, "Pending", True),
        ({"p-0": OK}, ["p-0", "p-1"], None, "Pending", True),
        ({"p-0": OK, "p-1": OK}, ["p-0"], True, "Programmed", False),
        ({"p-0": OK, "p-1": FAILED}, ["p-0", "p-1"], False, "Conflict", True),
        ({"p-0": OK, "p-1": DOWN}, ["p-0", "p-1"], False, "PluginUnavailable", True),
        ({"p-0": REJECTED, "p-1": REJECTED}, ["p-0", "p-1"], False, "BadHost", False),
        ({}, [], None, "NoReadyInstance", True),
    ],
)
def test_fold_broadcast(
    outcomes: dict[str, Outcome],
    ready: list[str],
    programmed: bool | None,
    reason: str,
    retry: bool,
) -> None:
    view = status.fold_broadcast("envoy", 3, outcomes, ready)
    assert (view.programmed, view.reason) == (programmed, reason)
    assert status.needs_retry([view]) is retry


def test_broadcast_counts_instances_in_its_message() -> None:
    view = status.fold_broadcast("envoy", 3, {"p-0": OK, "p-1": FAILED}, ["p-0", "p-1"])
    assert "programmed on 1/2 instances" in view.message
    assert view.instances == ("p-0",)


@pytest.mark.parametrize(
    ("outcome", "ready", "programmed", "reason"),
    [
        (OK, True, True, "Programmed"),
        (OLD_OK, True, None, "Pending"),
        (None, True, None, "Pending"),
        (None, False, None, "NoReadyInstance"),
        (REJECTED, True, False, "BadHost"),
        (FAILED, True, False, "Conflict"),
    ],
)
def test_fold_any(
    outcome: Outcome | None, ready: bool, programmed: bool | None, reason: str
) -> None:
    view = status.fold_any("dns", 3, outcome, "dns-1", ready)
    assert (view.programmed, view.reason) == (programmed, reason)


def test_ready_needs_every_plugin() -> None:
    good = status.fold_broadcast("envoy", 3, {"e-0": OK}, ["e-0"])
    bad = status.fold_any("dns", 3, FAILED, "dns-0", True)
    st = status.intent_status(3, [good, bad], kind="service")
    assert conds(st)["Ready"] == (status.FALSE, "Conflict")
    assert conds(st)["Accepted"][0] == status.TRUE
    assert "plugin dns: record owned by someone else" in next(
        c.message for c in st.conditions if c.type == "Ready"
    )
    assert [p.plugin for p in st.plugins] == ["dns", "envoy"]
    st = status.intent_status(3, [good], kind="service")
    assert conds(st)["Ready"] == (status.TRUE, "Ready")
    assert st.observed_generation == 3
    assert status.is_ready(st, 3) and not status.is_ready(st, 4)


def test_rejection_is_not_accepted_and_not_retried() -> None:
    view = status.fold_any("dns", 3, REJECTED, "dns-0", True)
    st = status.intent_status(3, [view], kind="dns")
    assert conds(st)["Accepted"] == (status.FALSE, "BadHost")
    assert not status.needs_retry([view])


def test_no_plugin_and_deleting() -> None:
    st = status.intent_status(1, [], kind="dns")
    assert conds(st)["Ready"] == (status.FALSE, "NoPlugin")
    assert "no configured plugin handles dns intents" in st.conditions[2].message
    st = status.intent_status(1, [], kind="dns", deleting=True)
    assert conds(st)["Ready"] == (status.FALSE, "Deleting")


def test_transition_times_survive_unchanged_conditions() -> None:
    view = status.fold_broadcast("envoy", 1, {"e-0": Outcome(1, True, True)}, ["e-0"])
    first = status.intent_status(1, [view], kind="service")
    t1, t2 = Timestamp(seconds=100), Timestamp(seconds=200)
    status.carry_transition_times(first, intent_pb2.IntentStatus(), t1)
    again = status.intent_status(1, [view], kind="service")
    status.carry_transition_times(again, first, t2)
    assert all(c.last_transition_time.seconds == 100 for c in again.conditions)
    assert again.SerializeToString(deterministic=True) == first.SerializeToString(
        deterministic=True
    )
    failed = status.fold_broadcast("envoy", 1, {"e-0": Outcome(1, True, False, "X", "y")}, ["e-0"])
    changed = status.intent_status(1, [failed], kind="service")
    status.carry_transition_times(changed, first, t2)
    by_type = {c.type: c.last_transition_time.seconds for c in changed.conditions}
    assert by_type == {"Accepted": 100, "Programmed": 200, "Ready": 200}


@pytest.mark.parametrize(
    ("outcomes", "ready_status"),
    [({"e-0": OK}, status.TRUE), ({"e-0": OLD_OK}, status.FALSE), ({"e-0": FAILED}, status.FALSE)],
)
def test_each_plugin_has_its_own_ready_condition(
    outcomes: dict[str, Outcome], ready_status: int
) -> None:
    view = status.fold_broadcast("envoy", 3, outcomes, ["e-0"])
    (plugin,) = status.intent_status(3, [view], kind="service").plugins
    assert [c.type for c in plugin.conditions] == ["Accepted", "Programmed", "Ready"]
    assert plugin.conditions[2].status == ready_status
