"""REST end to end: a real Envoy (the supervised gateway process) transcoding to a real
controller with real plugin processes.

What Envoy answers, measured here and relied on by clients:
- the controller's gRPC errors come back as `google.rpc.Status` JSON with the HTTP status
  Envoy maps from the code: INVALID_ARGUMENT 400, UNAUTHENTICATED 401, NOT_FOUND 404,
  UNAVAILABLE 503; INVALID_ARGUMENT keeps its `google.rpc.BadRequest` details;
- replies Envoy makes itself are Status JSON too (the gateway's local reply mapper):
  malformed JSON and an unknown query parameter 400 (code 3), a path or verb no method
  binds 404 (code 5, "Could not resolve ... to a method"), a body over the limit 413
  (code 8).
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tc.gateway.process import process_config
from tc.gateway.settings import GatewaySettings
from tc.server import auth
from tc.server.app import Controller
from tc.server.plugin_config import load_plugin_configs
from tc.server.settings import ControllerSettings
from tc.server.supervisor import Instance
from tests.component.test_auth import make_pki
from tests.e2e.test_xds_envoy import free_port
from tests.support import wait_until, write_plugin

pytestmark = pytest.mark.e2e

LIMIT = 16 * 1024


@dataclass
class Rest:
    controller: Controller
    client: httpx.AsyncClient
    url: str

    @property
    def gateway(self) -> Instance:
        return self.controller.supervisor.auxiliaries[0].instances[0]


async def _serves(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(f"{url}/healthz")).status_code == 200
    except httpx.TransportError:
        return False


async def start_rest(
    tmp_path: Path,
    gateway_overrides: dict[str, Any] | None = None,
    verify: str | bool = True,
    **overrides: Any,
) -> Rest:
    plugins = tmp_path / "plugins.d"
    if not plugins.exists():
        write_plugin(plugins)
    state = tmp_path / "state"
    settings = ControllerSettings(
        grpc_address="127.0.0.1:0",
        state_dir=state,
        plugins_dir=plugins,
        store_synchronous="NORMAL",
        **overrides,
    )
    # A fixed port (not 0): the restarted gateway must come back on the same address.
    gateway = GatewaySettings(
        listen_address=f"127.0.0.1:{free_port()}",
        upstream_address_file=state / "controller.address",
        work_dir=state / "gateway",
        max_request_bytes=LIMIT,
        **(gateway_overrides or {}),
    )
    controller = Controller(settings, load_plugin_configs(plugins))
    controller.supervisor.add_auxiliary(process_config(gateway))
    await controller.start()
    https = gateway.tls_cert_file is not None
    client = httpx.AsyncClient(timeout=10, verify=verify)
    rest = Rest(controller, client, f"{'https' if https else 'http'}://{gateway.listen_address}")
    await wait_until(lambda: rest.gateway.ready, timeout=30, what="the gateway process ready")
    await wait_until(lambda: _serves(client, rest.url), what="the REST gateway")
    return rest


@pytest.fixture
async def rest(tmp_path: Path) -> AsyncIterator[Rest]:
    r = await start_rest(tmp_path)
    await wait_until(r.controller.all_plugins_ready, what="plugins ready")
    yield r
    await r.client.aclose()
    await r.controller.stop()


def web(name: str, *, port: int = 80) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {"team": "shop"},
        "service": {
            "hosts": [f"{name}.example.com"],
            "ports": [{"number": port, "protocol": "PROTOCOL_HTTP"}],
            "endpoints": [{"address": "10.0.0.1", "port": 9000}],
        },
    }


def _status(response: httpx.Response, http: int, code: int) -> dict[str, Any]:
    assert response.status_code == http, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def test_intents_over_rest(rest: Rest) -> None:
    client, url = rest.client, rest.url
    created = await client.post(f"{url}/v1/intents", json=web("shop"))
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["result"] == "APPLY_RESULT_CREATED"
    # Proto field names, int64 as strings, unpopulated fields printed.
    assert body["intent"]["generation"] == "1"
    assert body["intent"]["service"]["ports"][0]["target_port"] == 80
    assert body["intent"]["service"]["endpoints"][0]["subset"] == ""

    got = await client.get(f"{url}/v1/intents/shop")
    assert got.status_code == 200
    assert got.json()["intent"]["uid"] == body["intent"]["uid"]

    await client.post(f"{url}/v1/intents", json=web("cart"))
    listed = await client.get(f"{url}/v1/intents", params={"page_size": 1})
    assert listed.status_code == 200, listed.text
    assert [i["name"] for i in listed.json()["intents"]] == ["cart"]
    assert listed.json()["next_page_token"]

    deleted = await client.delete(f"{url}/v1/intents/cart")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["intent"]["delete_time"]

    status = await client.get(f"{url}/v1/status")
    assert status.status_code == 200
    data = status.json()
    assert data["plugins"][0]["ready_replicas"] == 2
    gateway = data["auxiliary_processes"][0]
    assert gateway["name"] == "gateway"
    assert gateway["instances"][0]["state"] == "INSTANCE_STATE_READY"


async def test_probes(rest: Rest) -> None:
    healthz = await rest.client.get(f"{rest.url}/healthz")
    assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
    readyz = await rest.client.get(f"{rest.url}/readyz")
    assert readyz.status_code == 200
    assert readyz.json()["checks"] == ["plugin recorder: 2/2 ready", "store: writable"]


async def test_openapi_document_is_served_and_lists_every_route(rest: Rest) -> None:
    from tc.gateway.openapi import openapi_document

    got = await rest.client.get(f"{rest.url}/openapi.json")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    served = got.json()
    assert served["openapi"].startswith("3.")
    assert set(served["paths"]) == set(openapi_document()["paths"])
    assert "/v1/intents" in served["paths"] and "/readyz" in served["paths"]
    refused = await rest.client.post(f"{rest.url}/openapi.json", content=b"{}")
    assert refused.status_code == 404  # only GET is the document


async def test_errors_are_status_json(rest: Rest) -> None:
    client, url = rest.client, rest.url
    bad_json = await client.post(
        f"{url}/v1/intents", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert _status(bad_json, 400, 3)["message"]

    invalid = await client.post(f"{url}/v1/intents", json=web("shop", port=0))
    body = _status(invalid, 400, 3)
    assert "spec.service.ports[0].number" in body["message"]
    (detail,) = body["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert detail["field_violations"][0]["field"] == "spec.service.ports[0].number"

    missing = await client.get(f"{url}/v1/intents/nope")
    assert "nope" in _status(missing, 404, 5)["message"]

    # Refused by the transcoder (reject_unknown_query_parameters), never reaching gRPC.
    unknown_query = await client.get(f"{url}/v1/intents", params={"colour": "red"})
    assert "colour" in _status(unknown_query, 400, 3)["message"]

    # reject_unknown_method: no binding for this path, or for this verb on a known path.
    unknown_path = await client.get(f"{url}/v1/nothing")
    assert "Could not resolve" in _status(unknown_path, 404, 5)["message"]
    wrong_verb = await client.patch(f"{url}/v1/intents/shop", json={})
    _status(wrong_verb, 404, 5)

    too_big = web("big")
    too_big["labels"] = {"padding": "x" * LIMIT}
    over = await client.post(f"{url}/v1/intents", json=too_big)
    _status(over, 413, 8)


async def test_heartbeats_and_microservices_over_rest(rest: Rest) -> None:
    client, url = rest.client, rest.url
    checked = web("shop")
    # Loopback only: the controller really probes it (nothing listens; the push vouches).
    checked["service"]["endpoints"] = [{"address": "127.0.0.1", "port": free_port()}]
    checked["service"]["health_check"] = {"type": "HEALTH_CHECK_TYPE_TCP", "interval": "5s"}
    assert (await client.post(f"{url}/v1/intents", json=checked)).status_code == 200
    endpoint = checked["service"]["endpoints"][0]

    async def listed() -> list[dict[str, Any]]:
        got = await client.get(f"{url}/v1/microservices", params={"service": "shop"})
        assert got.status_code == 200, got.text
        found: list[dict[str, Any]] = got.json()["microservices"]
        return found

    await wait_until(lambda: _nonempty(listed()), what="shop's endpoint checked")
    (entry,) = await listed()
    assert (entry["address"], entry["port"]) == (endpoint["address"], endpoint["port"])
    beat = {"service": "shop", "address": endpoint["address"], "port": endpoint["port"]}
    pushed = await client.post(f"{url}/v1/heartbeats", json={**beat, "ttl": "30s"})
    assert pushed.status_code == 200, pushed.text
    (entry,) = await listed()
    assert entry["health"] == "ENDPOINT_HEALTH_HEALTHY"

    unknown = await client.post(f"{url}/v1/heartbeats", json={**beat, "port": 1})
    assert f"{endpoint['address']}:1" in _status(unknown, 404, 5)["message"]
    no_service = await client.post(f"{url}/v1/heartbeats", json={**beat, "service": ""})
    assert "service" in _status(no_service, 400, 3)["message"]


async def _nonempty(found: Awaitable[list[dict[str, Any]]]) -> bool:
    return bool(await found)


async def test_readyz_is_503_naming_the_plugin_without_ready_instances(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins.d"
    write_plugin(plugins)
    # A plugin whose process always exits: its kind never has a ready instance.
    (plugins / "broken.yaml").write_text(
        "name: broken\ncommand: [sh, -c, 'exit 3']\nreplicas: 1\nallow_single_replica: true\n"
    )
    r = await start_rest(tmp_path)
    try:
        response = await r.client.get(f"{r.url}/readyz")
        body = _status(response, 503, 14)
        assert "plugin broken: 0/1 ready" in body["message"]
        assert "recorder" not in body["message"]
    finally:
        await r.client.aclose()
        await r.controller.stop()


async def test_missing_token_is_401(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    token = auth.add_token(tokens, "ops")
    r = await start_rest(tmp_path, tokens_file=tokens)
    try:
        _status(await r.client.get(f"{r.url}/v1/status"), 401, 16)
        allowed = await r.client.get(
            f"{r.url}/v1/status", headers={"authorization": f"Bearer {token}"}
        )
        assert allowed.status_code == 200
        # Probes stay open, as on gRPC.
        assert (await r.client.get(f"{r.url}/healthz")).status_code == 200
    finally:
        await r.client.aclose()
        await r.controller.stop()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it holds no port.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("victim", ["gateway process", "envoy"])
async def test_killed_gateway_comes_back(rest: Rest, victim: str) -> None:
    before = rest.gateway
    wrapper = before.pid
    envoys = _children(wrapper)
    if victim == "envoy":
        assert len(envoys) == 1, envoys
    os.kill(envoys[0] if victim == "envoy" else wrapper, signal.SIGKILL)

    await wait_until(
        lambda: rest.gateway.pid != wrapper and rest.gateway.ready,
        timeout=30,
        what="a new gateway process",
    )
    assert rest.gateway.restarts >= 1
    # The old Envoy died with its parent (PR_SET_PDEATHSIG) and freed the port.
    for pid in envoys:
        await wait_until(lambda pid=pid: not _alive(pid), what=f"old envoy {pid} gone")
    await wait_until(lambda: _serves(rest.client, rest.url), timeout=30, what="REST again")
    response = await rest.client.post(f"{rest.url}/v1/intents", json=web("after"))
    assert response.status_code == 200, response.text


async def test_rest_over_https(tmp_path: Path) -> None:
    """--rest-tls-cert-file: the listener speaks TLS only; a client that trusts the CA
    applies and reads intents, a plaintext client gets nothing."""
    pki = make_pki(tmp_path / "pki")
    rest = await start_rest(
        tmp_path,
        {"tls_cert_file": pki.server_cert, "tls_key_file": pki.server_key},
        verify=str(pki.ca),
    )
    try:
        await wait_until(rest.controller.all_plugins_ready, what="plugins ready")
        async with httpx.AsyncClient(timeout=10, verify=str(pki.ca)) as client:
            created = await client.post(f"{rest.url}/v1/intents", json=web("tls"))
            assert created.status_code == 200, created.text
            got = await client.get(f"{rest.url}/v1/intents/tls")
            assert got.json()["intent"]["name"] == "tls"
        plain = rest.url.replace("https://", "http://")
        async with httpx.AsyncClient(timeout=5) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(f"{plain}/healthz")
    finally:
        await rest.client.aclose()
        await rest.controller.stop()


async def test_rest_to_a_controller_with_mtls(tmp_path: Path) -> None:
    """The controller's gRPC port has TLS and requires client certificates: the gateway
    reaches it with the CA and its own client certificate, and REST works as before."""
    pki = make_pki(tmp_path / "pki")
    rest = await start_rest(
        tmp_path,
        {
            "upstream_ca_file": pki.ca,
            "upstream_cert_file": pki.client_cert,
            "upstream_key_file": pki.client_key,
        },
        tls_cert_file=pki.server_cert,
        tls_key_file=pki.server_key,
        tls_client_ca_file=pki.ca,
    )
    try:
        await wait_until(rest.controller.all_plugins_ready, what="plugins ready")
        created = await rest.client.post(f"{rest.url}/v1/intents", json=web("mtls"))
        assert created.status_code == 200, created.text
        status = await rest.client.get(f"{rest.url}/v1/status")
        assert status.status_code == 200 and status.json()["controller"]["state"]
    finally:
        await rest.client.aclose()
        await rest.controller.stop()
