"""Registering the controller with an EMCO-compatible orchestrator, in the background.

`POST /v2/controllers` creates the record; a 409 means an earlier run (or a replica) already
created it, so the record is brought up to date with `PUT /v2/controllers/{name}`, which
makes registration idempotent across restarts. Connection errors and 5xx are the
orchestrator being away, and are retried with capped, jittered backoff; other 4xx are a
disagreement retrying will not fix, and end in FAILED with the orchestrator's answer.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from tc.server.orchestrator.retry import backoff_delay
from tc.server.orchestrator.settings import OrchestratorSettings

log = logging.getLogger("tc.orchestrator")

# Busy or briefly unavailable answers, worth asking again.
_TRANSIENT_STATUS = {408, 425, 429}


class RegistrationState(enum.StrEnum):
    DISABLED = "disabled"  # no orchestrator configured
    UNREGISTERED = "unregistered"  # configured, not started yet
    REGISTERING = "registering"  # attempts under way; last_error says why one failed
    REGISTERED = "registered"
    FAILED = "failed"  # a permanent refusal, or max_attempts spent
    DEREGISTERED = "deregistered"  # removed on stop


@dataclass(frozen=True, slots=True)
class RegistrationStatus:
    url: str
    state: RegistrationState
    attempts: int = 0
    last_error: str = ""


def controller_body(settings: OrchestratorSettings, host: str, port: int) -> dict[str, Any]:
    """EMCO's controller resource for this controller: an "action" controller."""
    return {
        "metadata": {"name": settings.name, "description": settings.description},
        "spec": {"host": host, "port": port, "type": "action", "priority": settings.priority},
    }


def is_transient(status_code: int) -> bool:
    return status_code >= 500 or status_code in _TRANSIENT_STATUS


def describe(response: httpx.Response) -> str:
    request = response.request
    text = response.text.strip().replace("\n", " ")[:200]
    return f"{request.method} {request.url.path}: {response.status_code} {text}"


class _Permanent(Exception):
    pass


class _Transient(Exception):
    pass


class Registrar:
    """Runs registration attempts (`run`, as a task) and deregistration; owns no task."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: OrchestratorSettings,
        body: dict[str, Any],
    ) -> None:
        assert settings.url is not None
        self._client = client
        self._settings = settings
        self._body = body
        self._collection = f"{settings.url}/v2/controllers"
        self._item = f"{self._collection}/{settings.name}"
        self._state = RegistrationState.UNREGISTERED
        self._attempts = 0
        self._last_error = ""
        # Set once registration has an outcome (either way): notifications wait for it so
        # the orchestrator hears of the controller before hearing from it.
        self.settled = asyncio.Event()

    def status(self) -> RegistrationStatus:
        return RegistrationStatus(
            url=self._settings.url or "",
            state=self._state,
            attempts=self._attempts,
            last_error=self._last_error,
        )

    async def run(self) -> None:
        settings = self._settings
        self._state = RegistrationState.REGISTERING
        try:
            while True:
                self._attempts += 1
                try:
                    verb = await self._attempt()
                except _Permanent as exc:
                    self._fail(str(exc))
                    return
                except (_Transient, httpx.HTTPError) as exc:
                    self._last_error = _error_text(exc)
                else:
                    self._state = RegistrationState.REGISTERED
                    self._last_error = ""
                    log.info(
                        "registered with the orchestrator at %s as %r (%s, attempt %d)",
                        settings.url,
                        settings.name,
                        verb,
                        self._attempts,
                    )
                    return
                if settings.max_attempts and self._attempts >= settings.max_attempts:
                    self._fail(f"gave up after {self._attempts} attempts: {self._last_error}")
                    return
                delay = backoff_delay(
                    self._attempts, settings.retry_base_seconds, settings.retry_max_seconds
                )
                log.warning(
                    "orchestrator registration attempt %d failed (%s); retrying in %.2fs",
                    self._attempts,
                    self._last_error,
                    delay,
                )
                await asyncio.sleep(delay)
        finally:
            self.settled.set()

    def _fail(self, error: str) -> None:
        self._state = RegistrationState.FAILED
        self._last_error = error
        log.error("orchestrator registration failed: %s", error)

    async def _attempt(self) -> str:
        """One POST, then a PUT if the record exists; returns which verb succeeded."""
        response = await self._client.post(self._collection, json=self._body)
        if response.is_success:
            return "created"
        if response.status_code != 409:
            raise _classify(response)
        response = await self._client.put(self._item, json=self._body)
        if response.is_success:
            return "updated"
        if response.status_code == 404:
            # Deleted between our POST and PUT (another replica deregistering): start over.
            raise _Transient(describe(response))
        raise _classify(response)

    async def deregister(self) -> None:
        """DELETE the record, bounded by deregister_timeout_seconds; never raises."""
        if self._state is not RegistrationState.REGISTERED:
            return
        try:
            response = await self._client.delete(
                self._item, timeout=self._settings.deregister_timeout_seconds
            )
        except httpx.HTTPError as exc:
            # Shutting down must not wait on, or fail because of, the orchestrator.
            log.warning("orchestrator deregistration failed: %s", _error_text(exc))
            return
        if response.is_success or response.status_code == 404:
            self._state = RegistrationState.DEREGISTERED
            log.info("deregistered %r from the orchestrator", self._settings.name)
        else:
            log.warning("orchestrator deregistration refused: %s", describe(response))


def _classify(response: httpx.Response) -> Exception:
    if is_transient(response.status_code):
        return _Transient(describe(response))
    return _Permanent(describe(response))


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
