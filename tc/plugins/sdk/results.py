"""Builders for a plugin's per-intent answer, so every plugin reports conditions alike."""

from __future__ import annotations

from tc._proto.tc.v1 import intent_pb2, plugin_pb2

TRUE = intent_pb2.CONDITION_STATUS_TRUE
FALSE = intent_pb2.CONDITION_STATUS_FALSE


def _condition(
    kind: str, status: intent_pb2.ConditionStatus, reason: str, message: str, generation: int
) -> intent_pb2.Condition:
    return intent_pb2.Condition(
        type=kind, status=status, reason=reason, message=message, observed_generation=generation
    )


def programmed(intent: intent_pb2.Intent, message: str = "") -> plugin_pb2.IntentResult:
    """The intent was valid for this plugin and is now in effect on its target."""
    g = intent.generation
    return plugin_pb2.IntentResult(
        name=intent.name,
        generation=g,
        conditions=[
            _condition("Accepted", TRUE, "Accepted", "", g),
            _condition("Programmed", TRUE, "Programmed", message, g),
        ],
    )


def accepted_false(intent: intent_pb2.Intent, reason: str, message: str) -> plugin_pb2.IntentResult:
    """The intent is invalid for this plugin: retrying cannot help until it changes."""
    g = intent.generation
    return plugin_pb2.IntentResult(
        name=intent.name,
        generation=g,
        conditions=[
            _condition("Accepted", FALSE, reason, message, g),
            _condition("Programmed", FALSE, reason, message, g),
        ],
        retryable=False,
    )


def programmed_false(
    intent: intent_pb2.Intent, reason: str, message: str, *, retryable: bool = True
) -> plugin_pb2.IntentResult:
    """The intent is valid but could not be put in effect (target down, conflict...)."""
    g = intent.generation
    return plugin_pb2.IntentResult(
        name=intent.name,
        generation=g,
        conditions=[
            _condition("Accepted", TRUE, "Accepted", "", g),
            _condition("Programmed", FALSE, reason, message, g),
        ],
        retryable=retryable,
    )
