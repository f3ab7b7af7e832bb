"""A real Envoy following the ADS server: traffic reaches a backend, follows a change, and a
config Envoy rejects comes back as a NACK with Envoy's own message.

Runs once per ADS variant (state-of-the-world and delta), since Envoy's client differs.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from tc.plugins.envoy.cache import Snapshot, SnapshotCache
from tc.plugins.envoy.registry import ProxyRegistry
from tc.plugins.envoy.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, Resources
from tc.plugins.envoy.server import XdsServer
from tc.serving import bind, new_server
from tests.support import ROOT, wait_until
from tests.unit.test_xds_cache import eds_cluster, load_assignment, rds_listener, route_config

pytestmark = pytest.mark.e2e

ENVOY = ROOT / ".venv" / "bin" / "envoy"
NODE = "e2e-proxy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def config(backend_port: int, listener_port: int, *, routed: bool = True) -> Resources:
    routes = route_config("routes", "web")
    if not routed:
        del routes.virtual_hosts[0].routes[:]
    return {
        CLUSTER: {"web": eds_cluster("web")},
        ENDPOINT: {"web": load_assignment("web", backend_port)},
        LISTENER: {"http": rds_listener("http", "routes", listener_port)},
        ROUTE: {"routes": routes},
    }


def bootstrap(path: Path, xds_address: str, api_type: str) -> Path:
    host, _, port = xds_address.rpartition(":")
    document = {
        "node": {"id": NODE, "cluster": "e2e"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": api_type,
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xds"}}],
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "static_resources": {
            "clusters": [
                {
                    "name": "xds",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": "xds",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": host,
                                                    "port_value": int(port),
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ]
        },
    }
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
async def xds() -> AsyncIterator[tuple[SnapshotCache, ProxyRegistry, str]]:
    cache, registry = SnapshotCache(), ProxyRegistry()
    server = new_server()
    XdsServer(cache, registry).add_to(server)
    address = bind(server, "127.0.0.1:0")
    await server.start()
    yield cache, registry, address
    await server.stop(None)


@pytest.mark.parametrize("api_type", ["GRPC", "DELTA_GRPC"])
async def test_envoy_follows_snapshots_and_reports_rejections(
    tmp_path: Path,
    backend: int,
    xds: tuple[SnapshotCache, ProxyRegistry, str],
    api_type: str,
) -> None:
    cache, registry, address = xds
    listener_port = free_port()
    cache.set_snapshot(Snapshot.build(config(backend, listener_port)))
    log_path = tmp_path / "envoy.log"
    command = [
        str(ENVOY),
        "-c",
        str(bootstrap(tmp_path / "bootstrap.yaml", address, api_type)),
        "--admin-address-path",
        str(tmp_path / "admin.txt"),
        "--base-id",
        str(listener_port),
        "--log-level",
        "info",
    ]
    with log_path.open("wb") as log:
        envoy = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{listener_port}/"
    try:
        async with httpx.AsyncClient(timeout=2) as client:

            async def status() -> int | None:
                assert envoy.poll() is None, log_path.read_text()[-4000:]
                try:
                    return (await client.get(url)).status_code
                except httpx.TransportError:
                    return None

            async def answers(code: int) -> bool:
                return await status() == code

            await wait_until(lambda: answers(200), timeout=30, what="200 through Envoy")
            assert (await client.get(url)).text == "hello from the backend"
            proxy = registry.get(NODE)
            assert proxy is not None
            good = cache.snapshot
            assert good is not None
            await wait_until(lambda: proxy.acked.get(ROUTE) == good.version(ROUTE), what="RDS ACK")

            # A changed cluster with unchanged endpoints must finish warming: it needs its
            # ClusterLoadAssignment sent again.
            rewarmed = config(backend, listener_port)
            rewarmed[CLUSTER]["web"] = eds_cluster("web", connect_timeout=2)
            cache.set_snapshot(Snapshot.build(rewarmed))
            admin = f"http://{(tmp_path / 'admin.txt').read_text().strip()}"

            async def warm() -> bool:
                stats = (await client.get(f"{admin}/stats?filter=cluster_manager")).text
                return (
                    "cluster_manager.warming_clusters: 0" in stats
                    and "cluster_manager.cluster_modified: 1" in stats
                )

            # Under Envoy's 15 s initial_fetch_timeout, which would end the warming without us.
            await wait_until(warm, timeout=10, what="the updated cluster to finish warming")
            assert await status() == 200

            cache.set_snapshot(Snapshot.build(config(backend, listener_port, routed=False)))
            await wait_until(lambda: answers(404), timeout=30, what="404 once the route is gone")

            rejected = config(backend, listener_port, routed=False)
            rejected[CLUSTER]["web"] = eds_cluster("web", connect_timeout=-1)
            bad = Snapshot.build(rejected)
            cache.set_snapshot(bad)
            await wait_until(lambda: CLUSTER in proxy.last_nack, timeout=30, what="CDS NACK")
            nack = proxy.last_nack[CLUSTER]
            assert nack.version == bad.version(CLUSTER)
            assert "Expected positive duration" in nack.message
            assert proxy.acked[CLUSTER] != bad.version(CLUSTER)
            # Envoy keeps the previous, accepted config and keeps serving with it.
            assert await status() == 404
    finally:
        envoy.terminate()
        try:
            envoy.wait(10)
        except subprocess.TimeoutExpired:
            envoy.kill()
            envoy.wait()
