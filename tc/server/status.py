"""Pure functions from plugin answers to an intent's status (Kubernetes-style conditions).

Nothing here does I/O: the reconciler records each instance's last answer as an Outcome and
asks these functions what the intent's status is now. They are tested with plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from tc._proto.tc.v1 import intent_pb2, plugin_pb2

TRUE = intent_pb2.CONDITION_STATUS_TRUE
FALSE = intent_pb2.CONDITION_STATUS_FALSE
UNKNOWN = intent_pb2.CONDITION_STATUS_UNKNOWN

ACCEPTED = "Accepted"
PROGRAMMED = "Programmed"
READY = "Ready"
HEALTHY = "Healthy"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One plugin instance's last answer for one intent."""

    generation: int
    accepted: bool | None
    programmed: bool | None
    reason: str = ""
    message: str = ""
    retryable: bool = False


def outcome_from_result(result: plugin_pb2.IntentResult) -> Outcome:
    accepted: bool | None = None
    programmed: bool | None = None
    reason = message = ""
    for cond in result.conditions:
        value = {TRUE: True, FALSE: False}.get(cond.status)
        if cond.type == ACCEPTED:
            accepted = value
        elif cond.type == PROGRAMMED:
            programmed = value
        if value is False and not reason:
            reason, message = cond.reason, cond.message
    return Outcome(result.generation, accepted, programmed, reason, message, result.retryable)


def unavailable(generation: int, message: str) -> Outcome:
    """The call to the instance failed in transport: nothing is known but it is worth retrying."""
    return Outcome(generation, None, False, "PluginUnavailable", message, retryable=True)


@dataclass(frozen=True, slots=True)
class PluginView:
    """What one plugin kind did with one intent, folded over its instances."""

    plugin: str
    observed_generation: int
    accepted: bool | None
    programmed: bool | None
    reason: str
    message: str
    retryable: bool
    instances: tuple[str, ...]


def fold_broadcast(
    plugin: str, generation: int, outcomes: Mapping[str, Outcome], ready: Sequence[str]
) -> PluginView:
    """BROADCAST: programmed only when every ready instance programmed this generation."""
    if not ready:
        return PluginView(
            plugin,
            0,
            None,
            None,
            "NoReadyInstance",
            f"plugin {plugin} has no ready instance",
            True,
            (),
        )
    current = {
        i: outcomes[i] for i in ready if i in outcomes and outcomes[i].generation == generation
    }
    done = tuple(sorted(i for i, o in current.items() if o.programmed))
    rejected = [o for o in current.values() if o.accepted is False]
    if rejected:
        o = rejected[0]
        return PluginView(plugin, generation, False, False, o.reason, o.message, False, done)
    failed = [o for o in current.values() if o.programmed is False]
    if failed:
        o = failed[0]
        msg = f"{o.message} (programmed on {len(done)}/{len(ready)} instances)"
        return PluginView(plugin, generation, True, False, o.reason, msg, o.retryable, done)
    if len(done) == len(ready):
        return PluginView(
            plugin,
            generation,
            True,
            True,
            "Programmed",
            f"programmed on {len(done)}/{len(ready)} instances",
            False,
            done,
        )
    observed = min((o.generation for o in outcomes.values()), default=0)
    return PluginView(
        plugin,
        observed,
        None,
        None,
        "Pending",
        f"programmed on {len(done)}/{len(ready)} instances",
        True,
        done,
    )


def fold_any(
    plugin: str, generation: int, outcome: Outcome | None, instance: str, ready: bool
) -> PluginView:
    """ANY: the answer of whichever instance last applied the intent."""
    if outcome is None or outcome.generation != generation:
        if not ready:
            return PluginView(
                plugin,
                0,
                None,
                None,
                "NoReadyInstance",
                f"plugin {plugin} has no ready instance",
                True,
                (),
            )
        return PluginView(
            plugin, outcome.generation if outcome else 0, None, None, "Pending", "", True, ()
        )
    reason = outcome.reason or (PROGRAMMED if outcome.programmed else "")
    return PluginView(
        plugin,
        generation,
        outcome.accepted,
        outcome.programmed,
        reason,
        outcome.message,
        outcome.retryable and outcome.accepted is not False,
        (instance,) if outcome.programmed else (),
    )


def _cond(
    kind: str, value: bool | None, reason: str, message: str, generation: int
) -> intent_pb2.Condition:
    status = {True: TRUE, False: FALSE, None: UNKNOWN}[value]
    return intent_pb2.Condition(
        type=kind, status=status, reason=reason, message=message, observed_generation=generation
    )


def _accepted_condition(v: PluginView) -> intent_pb2.Condition:
    if v.accepted is False:
        return _cond(ACCEPTED, False, v.reason, v.message, v.observed_generation)
    reason = ACCEPTED if v.accepted else "Pending"
    return _cond(ACCEPTED, v.accepted, reason, "", v.observed_generation)


def _plugin_ready_condition(v: PluginView, generation: int) -> intent_pb2.Condition:
    """Ready for one plugin: programmed, and at the intent's current generation."""
    if v.programmed is True and v.observed_generation == generation:
        return _cond(READY, True, "Ready", "", generation)
    return _cond(READY, False, v.reason or "Pending", v.message, v.observed_generation)


def _all(values: Sequence[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    if all(v is True for v in values):
        return True
    return None


def healthy_condition(
    healthy: int, unhealthy: int, unknown: int, generation: int
) -> intent_pb2.Condition:
    """Healthy for a service intent whose endpoints are checked: False while any endpoint
    is unhealthy, True when every one is healthy, Unknown while some are not checked yet
    (at start-up and after a restart)."""
    total = healthy + unhealthy + unknown
    if unhealthy:
        message = (
            f"{unhealthy} of {total} endpoints unhealthy ({healthy} healthy, {unknown} unknown)"
        )
        return _cond(HEALTHY, False, "EndpointsUnhealthy", message, generation)
    if unknown:
        message = f"{unknown} of {total} endpoints not checked yet ({healthy} healthy)"
        return _cond(HEALTHY, None, "Checking", message, generation)
    return _cond(
        HEALTHY, True, "EndpointsHealthy", f"{healthy} of {total} endpoints healthy", generation
    )


def intent_status(
    generation: int, views: Sequence[PluginView], *, kind: str, deleting: bool = False
) -> intent_pb2.IntentStatus:
    """Summary conditions over every plugin that handles the intent's kind."""
    plugins = [
        intent_pb2.PluginStatus(
            plugin=v.plugin,
            observed_generation=v.observed_generation,
            instances=list(v.instances),
            conditions=[
                _accepted_condition(v),
                _cond(PROGRAMMED, v.programmed, v.reason, v.message, v.observed_generation),
                _plugin_ready_condition(v, generation),
            ],
        )
        for v in sorted(views, key=lambda v: v.plugin)
    ]
    observed = min((v.observed_generation for v in views), default=generation)
    if deleting:
        conditions = [
            _cond(ACCEPTED, True, ACCEPTED, "", generation),
            _cond(PROGRAMMED, None, "Deleting", "removing from plugins", generation),
            _cond(READY, False, "Deleting", "removing from plugins", generation),
        ]
        return intent_pb2.IntentStatus(
            observed_generation=observed, conditions=conditions, plugins=plugins
        )
    if not views:
        msg = f"no configured plugin handles {kind} intents"
        conditions = [
            _cond(ACCEPTED, True, ACCEPTED, "", generation),
            _cond(PROGRAMMED, None, "NoPlugin", msg, generation),
            _cond(READY, False, "NoPlugin", msg, generation),
        ]
        return intent_pb2.IntentStatus(
            observed_generation=0, conditions=conditions, plugins=plugins
        )
    accepted = _all([v.accepted for v in views])
    programmed = _all([v.programmed for v in views])
    first_bad = next((v for v in views if v.accepted is False), None) or next(
        (v for v in views if v.programmed is not True), None
    )
    if first_bad is None:
        acc_reason, acc_msg = ACCEPTED, ""
        prog_reason, prog_msg = PROGRAMMED, f"programmed by {len(views)} plugin(s)"
    else:
        where = f"plugin {first_bad.plugin}: {first_bad.message}".rstrip(": ")
        acc_reason, acc_msg = (
            (first_bad.reason, where)
            if accepted is False
            else (ACCEPTED if accepted else "Pending", "")
        )
        prog_reason, prog_msg = first_bad.reason or "Pending", where
    ready = programmed is True and observed == generation
    conditions = [
        _cond(ACCEPTED, accepted, acc_reason, acc_msg, generation),
        _cond(PROGRAMMED, programmed, prog_reason, prog_msg, generation),
        _cond(
            READY, ready, "Ready" if ready else prog_reason, "" if ready else prog_msg, generation
        ),
    ]
    return intent_pb2.IntentStatus(
        observed_generation=observed if observed <= generation else generation,
        conditions=conditions,
        plugins=plugins,
    )


def carry_transition_times(
    new: intent_pb2.IntentStatus, old: intent_pb2.IntentStatus, now: Timestamp
) -> None:
    """Keeps a condition's last_transition_time while its status does not change (in place)."""

    def stamp(conds: Sequence[intent_pb2.Condition], prev: Sequence[intent_pb2.Condition]) -> None:
        by_type = {c.type: c for c in prev}
        for cond in conds:
            before = by_type.get(cond.type)
            if before is not None and before.status == cond.status:
                cond.last_transition_time.CopyFrom(before.last_transition_time)
            else:
                cond.last_transition_time.CopyFrom(now)

    stamp(new.conditions, old.conditions)
    prev_plugins = {p.plugin: p for p in old.plugins}
    for plugin in new.plugins:
        before = prev_plugins.get(plugin.plugin)
        stamp(plugin.conditions, before.conditions if before else [])


def is_ready(status: intent_pb2.IntentStatus, generation: int) -> bool:
    return any(
        c.type == READY and c.status == TRUE and c.observed_generation == generation
        for c in status.conditions
    )


def needs_retry(views: Sequence[PluginView]) -> bool:
    return any(v.programmed is not True and v.retryable and v.accepted is not False for v in views)
