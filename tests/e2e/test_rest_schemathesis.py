"""Generated requests from /openapi.json against the running gateway: never a 5xx.

schemathesis draws requests for every operation of the document the gateway serves (valid
and invalid bodies, paths and query strings), sends them through the real Envoy to the
real controller, and every answer must be below 500, except the documented 503
(UNAVAILABLE: /readyz before the plugins are ready, or a plugin kind without a ready
instance). Runs derandomized, so CI repeats it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from tests.e2e.test_rest_gateway import start_rest
from tests.support import wait_until

pytestmark = pytest.mark.e2e

PER_OPERATION = 100
# What a 5xx may be: 503 is documented (not ready).
ALLOWED_5XX = {503}


def exercise(document: dict[str, Any], base_url: str) -> tuple[Counter[int], list[str]]:
    """Sends PER_OPERATION generated requests per operation; returns the status counts and
    every disallowed answer (method, path, status, body)."""
    statuses: Counter[int] = Counter()
    bad: list[str] = []
    schema = schemathesis.openapi.from_dict(document)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()
            if operation.path in ("/v1/events", "/v1/intents:watch"):
                continue  # server streams: an open stream never ends on its own

            @settings(
                max_examples=PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(operation.as_strategy())
            def send(case: Any) -> None:
                kwargs = case.as_transport_kwargs(base_url=base_url)
                # This gateway runs without tokens: generated credentials mean nothing.
                headers = {
                    k: v
                    for k, v in (kwargs.get("headers") or {}).items()
                    if k.lower() != "authorization"
                }
                try:
                    response = client.request(
                        kwargs["method"],
                        kwargs["url"],
                        params=kwargs.get("params"),
                        headers=headers,
                        json=kwargs.get("json"),
                        content=kwargs.get("data") if "json" not in kwargs else None,
                    )
                except httpx.LocalProtocolError:
                    return  # a header no HTTP client can send; nothing reached the gateway
                statuses[response.status_code] += 1
                if response.status_code >= 500 and response.status_code not in ALLOWED_5XX:
                    bad.append(
                        f"{case.method} {case.formatted_path}: {response.status_code} "
                        f"{response.text[:200]}"
                    )

            send()
    return statuses, bad


async def test_no_generated_request_gets_an_undocumented_5xx(tmp_path: Path) -> None:
    rest = await start_rest(tmp_path)
    try:
        await wait_until(rest.controller.all_plugins_ready, what="plugins ready")
        document = (await rest.client.get(f"{rest.url}/openapi.json")).json()
        statuses, bad = await asyncio.to_thread(exercise, document, rest.url)
    finally:
        await rest.client.aclose()
        await rest.controller.stop()
    assert sum(statuses.values()) >= 500, statuses
    assert not bad, "\n".join(bad[:20])
