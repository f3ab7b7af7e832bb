"""The controller's link to its orchestrator: EMCO-style registration and CloudEvents.

DESIGN.md's start-up order ends with "register with the orchestrator; tell the orchestrator
it is ready". Both travel over HTTP to services the controller does not own, so both run in
background tasks that retry and never hold up serving intents. `Orchestrator` is the one
runner the controller wires; the other modules are its parts, importable for tests.
"""

from __future__ import annotations

from tc.server.orchestrator.cloudevents import (
    CONTENT_TYPE,
    FORWARDED_EVENTS,
    TYPE_PREFIX,
    CloudEvent,
    Notifier,
    cloudevent_for,
)
from tc.server.orchestrator.registration import (
    Registrar,
    RegistrationState,
    RegistrationStatus,
    controller_body,
)
from tc.server.orchestrator.retry import backoff_delay
from tc.server.orchestrator.runner import Orchestrator, orchestrator_status
from tc.server.orchestrator.settings import NAME_PATTERN, OrchestratorSettings, advertised

__all__ = [
    "CONTENT_TYPE",
    "FORWARDED_EVENTS",
    "NAME_PATTERN",
    "TYPE_PREFIX",
    "CloudEvent",
    "Notifier",
    "Orchestrator",
    "OrchestratorSettings",
    "Registrar",
    "RegistrationState",
    "RegistrationStatus",
    "advertised",
    "backoff_delay",
    "cloudevent_for",
    "controller_body",
    "orchestrator_status",
]
