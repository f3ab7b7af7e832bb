"""The istio renderer's semantic checks, workload merge, weight rounding and metadata.

Specs here are broken with model_copy, which skips the IR's own rules: the renderer can be
handed such models (IRModel.trusted does the same) and must refuse them by itself.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tc import ir
from tc.ir.syntax import label_value_problem
from tc.plugins.istio.checks import check_service, check_workload
from tc.plugins.istio.common import duration
from tc.plugins.istio.metadata import intent_label
from tc.plugins.istio.render import render
from tc.plugins.istio.virtual_service import distribute

HTTP = ir.Port(number=8080, protocol=ir.Protocol.HTTP)
TCP = ir.Port(number=5432, protocol=ir.Protocol.TCP)
TLS = ir.Port(number=443, protocol=ir.Protocol.TLS)


def service_spec(**changes: Any) -> ir.ServiceSpec:
    """A valid service, changed without the IR's checks."""
    spec = ir.ServiceSpec(
        name="shop",
        namespace="shop",
        hosts=("shop.example.com",),
        ports=(HTTP,),
        endpoints=(
            ir.Endpoint(address="10.0.0.1", subset="v1"),
            ir.Endpoint(address="10.0.0.2", subset="v2"),
        ),
    )
    return spec.model_copy(update=changes)


def policy(**changes: Any) -> ir.TrafficPolicy:
    return ir.TrafficPolicy().model_copy(update=changes)


def workload(**changes: Any) -> ir.WorkloadSpec:
    return ir.WorkloadSpec(target="shop").model_copy(update=changes)


def split(*shares: tuple[str, int]) -> tuple[ir.TrafficSplit, ...]:
    return tuple(ir.TrafficSplit.model_construct(subset=s, weight=w) for s, w in shares)


def header_route(subset: str, **headers: str) -> ir.HeaderRoute:
    return ir.HeaderRoute(
        headers=tuple(ir.HeaderMatch(name=name, exact=value) for name, value in headers.items()),
        subset=subset,
    )


def service_intent(spec: ir.ServiceSpec | None = None, name: str = "shop") -> ir.Intent:
    return ir.Intent.model_construct(name=name, labels=ir.Labels(), spec=spec or service_spec())


def workload_intent(name: str, spec: ir.WorkloadSpec) -> ir.Intent:
    return ir.Intent.model_construct(name=name, labels=ir.Labels(), spec=spec)


EXTERNAL = ir.Exposure.model_construct(
    visibility=ir.Visibility.EXTERNAL, gateway_host="shop.example.org", tls_credential_name=None
)


# --- check_service -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        (service_spec(hosts=("shop",)), "spec.service.hosts[0]", "fully qualified"),
        (
            service_spec(hosts=("shop.example.com", "shop.example.com")),
            "spec.service.hosts[1]",
            "already used by hosts[0]",
        ),
        (
            service_spec(ports=(HTTP, HTTP.model_copy(update={"name": "web"}))),
            "spec.service.ports[1].number",
            "8080 is already used by ports[0]",
        ),
        (
            service_spec(ports=(HTTP, TCP.model_copy(update={"name": HTTP.name}))),
            "spec.service.ports[1].name",
            '"http-8080" is already used by ports[0]',
        ),
        (service_spec(ports=()), "spec.service.ports", "at least one port"),
        (
            service_spec(endpoints=(ir.Endpoint.model_construct(address="10.0.0.1", subset="V1"),)),
            "spec.service.endpoints[0].subset",
            "DNS-1123 label",
        ),
        (service_spec(name="shop.v2"), "spec.service.name", "DNS-1035"),
        (service_spec(name="2shop"), "spec.service.name", "DNS-1035"),
        (
            service_spec(
                location=ir.Location.MESH_EXTERNAL, hosts=("*.shop.example.com",), endpoints=()
            ),
            "spec.service.hosts",
            "needs a host without a wildcard",
        ),
        (
            service_spec(exposure=EXTERNAL, ports=(TCP,)),
            "spec.service.exposure.visibility",
            "needs an HTTP, HTTP2 or GRPC port",
        ),
        (
            service_spec(exposure=EXTERNAL.model_copy(update={"gateway_host": None})),
            "spec.service.exposure.gateway_host",
            "required",
        ),
        (
            service_spec(exposure=EXTERNAL.model_copy(update={"gateway_host": "shop"})),
            "spec.service.exposure.gateway_host",
            "fully qualified",
        ),
        (
            service_spec(traffic_policy=policy(connect_timeout=0.0005)),
            "spec.service.traffic_policy.connect_timeout",
            "at least 1ms",
        ),
        (
            service_spec(traffic_policy=policy(request_timeout=1e-9)),
            "spec.service.traffic_policy.request_timeout",
            "at least 1ms",
        ),
        (
            service_spec(
                traffic_policy=policy(
                    retries=ir.RetryPolicy(attempts=2, per_try_timeout=0.0001),
                )
            ),
            "spec.service.traffic_policy.retries.per_try_timeout",
            "at least 1ms",
        ),
        (
            service_spec(
                traffic_policy=policy(
                    outlier_detection=ir.OutlierDetection().model_copy(
                        update={"base_ejection_time": 0.0002}
                    )
                )
            ),
            "spec.service.traffic_policy.outlier_detection.base_ejection_time",
            "at least 1ms",
        ),
        (
            service_spec(
                ports=(TLS,),
                traffic_policy=policy(upstream_tls=ir.UpstreamTls(mode=ir.TlsMode.SIMPLE)),
            ),
            "spec.service.traffic_policy.upstream_tls.mode",
            "already speak TLS",
        ),
        (
            service_spec(
                location=ir.Location.MESH_EXTERNAL,
                allowed_clients=(ir.ClientRef(namespace="web"),),
            ),
            "spec.service.allowed_clients",
            "no sidecar",
        ),
        (
            service_spec(
                location=ir.Location.MESH_INTERNAL,
                name="a" * 64,
                allowed_clients=(ir.ClientRef(namespace="web"),),
            ),
            "spec.service.name",
            "as the app label",
        ),
        (
            service_spec(location=ir.Location.MESH_INTERNAL, name="a" * 250, exposure=EXTERNAL),
            "spec.service.name",
            "too long for the Gateway name",
        ),
    ],
)
def test_check_service_refuses(spec: ir.ServiceSpec, path: str, message: str) -> None:
    errors = check_service(spec)
    assert [e.path for e in errors] == [path], errors
    assert message in errors[0].message


@pytest.mark.parametrize(
    "spec",
    [
        service_spec(),
        service_spec(hosts=("*.shop.example.com",)),  # a wildcard is fine in the cluster
        service_spec(exposure=EXTERNAL, ports=(TCP, HTTP)),
        service_spec(
            ports=(TLS,),
            traffic_policy=policy(upstream_tls=ir.UpstreamTls(mode=ir.TlsMode.ISTIO_MUTUAL)),
        ),
        service_spec(traffic_policy=policy(retries=ir.RetryPolicy(attempts=0))),
        service_spec(
            location=ir.Location.MESH_EXTERNAL, hosts=("*.shop.example.com", "shop.example.com")
        ),
    ],
)
def test_check_service_accepts(spec: ir.ServiceSpec) -> None:
    assert check_service(spec) == []


# --- check_workload ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "target_spec", "path", "message"),
    [
        (
            workload(split=split(("v1", 90), ("v3", 10))),
            service_spec(),
            "spec.workload.split[1].subset",
            'subset "v3" does not exist on service "shop" (it has v1, v2)',
        ),
        (
            workload(split=split(("v2", 50), ("v2", 50))),
            service_spec(),
            "spec.workload.split[1].subset",
            '"v2" is already used by split[0]',
        ),
        (
            workload(split=split(("v1", 0), ("v2", 0))),
            service_spec(),
            "spec.workload.split",
            "add up to 100",
        ),
        (
            workload(split=split(("v1", 100))),
            service_spec(endpoints=(ir.Endpoint(address="10.0.0.1"),)),
            "spec.workload.split[0].subset",
            "it has none: set subset on its endpoints",
        ),
        (
            workload(mirror=ir.Mirror(subset="v9", percent=10)),
            service_spec(),
            "spec.workload.mirror.subset",
            'subset "v9" does not exist',
        ),
        (
            workload(mirror=ir.Mirror(subset="v2", percent=10)),
            service_spec(ports=(TCP,)),
            "spec.workload.mirror",
            "no HTTP, HTTP2 or GRPC port to mirror on",
        ),
        (
            workload(header_routes=(header_route("v2", x_canary="yes"),)),
            service_spec(ports=(TCP,)),
            "spec.workload.header_routes",
            "no HTTP, HTTP2 or GRPC port to match headers on",
        ),
        (
            workload(header_routes=(header_route("v5", **{"x-canary": "yes"}),)),
            service_spec(),
            "spec.workload.header_routes[0].subset",
            'subset "v5" does not exist',
        ),
        (
            workload(
                header_routes=(
                    header_route("v2", **{"x-a": "1", "x-b": "2"}),
                    header_route("v1", **{"x-b": "2", "x-a": "1"}),
                )
            ),
            service_spec(),
            "spec.workload.header_routes[1].headers",
            "same headers as header_routes[0]",
        ),
        (
            workload(target="cart"),
            service_spec(),
            "spec.workload.target",
            'not the service "shop"',
        ),
    ],
)
def test_check_workload_refuses(
    spec: ir.WorkloadSpec, target_spec: ir.ServiceSpec, path: str, message: str
) -> None:
    errors = check_workload(spec, "shop", target_spec)
    assert [e.path for e in errors] == [path], errors
    assert message in errors[0].message


@pytest.mark.parametrize(
    "spec",
    [
        workload(),
        workload(split=split(("v1", 100), ("v2", 0))),
        workload(mirror=ir.Mirror(subset="v2", percent=100)),
        workload(
            header_routes=(
                header_route("v2", **{"x-a": "1"}),
                header_route("v1", **{"x-a": "2"}),
            )
        ),
    ],
)
def test_check_workload_accepts(spec: ir.WorkloadSpec) -> None:
    assert check_workload(spec, "shop", service_spec()) == []


# --- merging workloads -------------------------------------------------------------------


def test_split_belongs_to_the_first_workload_in_name_order() -> None:
    first = workload_intent("a-canary", workload(split=split(("v1", 90), ("v2", 10))))
    second = workload_intent("b-rollback", workload(split=split(("v1", 100))))
    rendered = render(service_intent(), [second, first], 3, {"a-canary": 2, "b-rollback": 5})
    assert rendered.workloads == ("a-canary",)
    assert [e.path for e in rendered.errors_of("b-rollback")] == ["spec.workload.split"]
    assert rendered.errors_of("a-canary") == []
    assert rendered.errors_of("shop") == []
    assert rendered.errors == rendered.errors_of("b-rollback")
    vs = next(o for o in rendered.objects if o["kind"] == "VirtualService")
    assert [r["weight"] for r in vs["spec"]["http"][-1]["route"]] == [90, 10]
    assert vs["metadata"]["annotations"]["tc.dev/workloads"] == "a-canary=2"


def test_a_second_mirror_is_refused_and_header_routes_add_up() -> None:
    first = workload_intent(
        "a",
        workload(
            mirror=ir.Mirror(subset="v2", percent=5),
            header_routes=(header_route("v2", **{"x-a": "1"}),),
        ),
    )
    second = workload_intent("b", workload(header_routes=(header_route("v1", **{"x-b": "1"}),)))
    third = workload_intent("c", workload(mirror=ir.Mirror(subset="v1", percent=5)))
    rendered = render(service_intent(), [third, second, first], 1)
    assert rendered.workloads == ("a", "b")
    assert [e.path for e in rendered.errors_of("c")] == ["spec.workload.mirror"]
    vs = next(o for o in rendered.objects if o["kind"] == "VirtualService")
    names = [route["name"] for route in vs["spec"]["http"]]
    assert names == ["http-8080-header-0", "http-8080-header-1", "http-8080"]
    assert vs["spec"]["http"][0]["match"] == [{"headers": {"x-a": {"exact": "1"}}}]
    assert vs["metadata"]["annotations"]["tc.dev/workloads"] == "a,b"


def test_no_mirror_on_a_route_that_already_serves_the_mirror_subset() -> None:
    shadow = workload(
        split=split(("v1", 0), ("v2", 100)),
        mirror=ir.Mirror(subset="v2", percent=50),
        header_routes=(header_route("v1", **{"x-old": "1"}),),
    )
    rendered = render(service_intent(), [workload_intent("w", shadow)], 1)
    vs = next(o for o in rendered.objects if o["kind"] == "VirtualService")
    header, default = vs["spec"]["http"]
    assert header["mirror"]["subset"] == "v2"
    assert "mirror" not in default


def test_a_failing_service_renders_nothing_but_workloads_are_still_judged() -> None:
    broken = service_intent(service_spec(hosts=("shop",)))
    bad = workload_intent("w", workload(split=split(("v7", 100))))
    rendered = render(broken, [bad], 1)
    assert rendered.objects == []
    assert [e.path for e in rendered.errors_of("shop")] == ["spec.service.hosts[0]"]
    assert [e.path for e in rendered.errors_of("w")] == ["spec.workload.split[0].subset"]


def test_caller_mistakes_raise() -> None:
    with pytest.raises(TypeError):
        render(workload_intent("w", workload()), [], 1)
    with pytest.raises(TypeError):
        render(service_intent(), [service_intent()], 1)
    same = workload_intent("w", workload())
    with pytest.raises(ValueError, match="more than once"):
        render(service_intent(), [same, same], 1)


def test_objects_are_sorted_and_labelled() -> None:
    spec = service_spec(
        exposure=EXTERNAL,
        allowed_clients=(ir.ClientRef(namespace="web", service_account="frontend"),),
    )
    name = "shop-" + "x" * 80
    rendered = render(service_intent(spec, name=name), [], 7)
    kinds = [o["kind"] for o in rendered.objects]
    assert kinds == sorted(kinds)
    for obj in rendered.objects:
        meta = obj["metadata"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "traffic-controller"
        assert meta["labels"]["tc.dev/intent"] == intent_label(name)
        assert meta["annotations"] == {"tc.dev/intent": name, "tc.dev/generation": "7"}
        assert list(obj) == sorted(obj)


# --- weights -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([90, 10], [90, 10]),
        ([100], [100]),
        ([100, 0], [100, 0]),
        ([50, 50], [50, 50]),
        ([1, 1, 1], [34, 33, 33]),
        ([1, 2], [33, 67]),
        ([1, 1, 1, 1, 1, 1], [17, 17, 17, 17, 16, 16]),
        ([1, 1, 1, 1, 1, 1, 1], [15, 15, 14, 14, 14, 14, 14]),
        ([2.5, 2.5, 5], [25, 25, 50]),
        ([1, 0, 1], [50, 0, 50]),
        ([3, 3, 1], [43, 43, 14]),
    ],
)
def test_distribute(weights: list[float], expected: list[int]) -> None:
    assert distribute(weights) == expected


@pytest.mark.parametrize("weights", [[], [0, 0], [-1, 101]])
def test_distribute_refuses_weights_it_cannot_share(weights: list[int]) -> None:
    with pytest.raises(ValueError):
        distribute(weights)


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=20))
def test_distribute_always_adds_up_to_100(weights: list[int]) -> None:
    if sum(weights) == 0:
        return
    shares = distribute(weights)
    assert sum(shares) == 100
    for weight, share in zip(weights, shares, strict=True):
        exact = Fraction(weight * 100, sum(weights))
        assert abs(share - exact) < 1


# --- metadata and values -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "shop",
        "a" * 63,
        "a" * 64,
        "shop." + "b" * 200,
        "x" * 51 + "-" + "y" * 30,
        "a" * 52 + ".b" * 20,
    ],
)
def test_intent_label_is_a_stable_label_value(name: str) -> None:
    label = intent_label(name)
    assert label_value_problem(label) is None
    assert len(label) <= 63
    assert label == intent_label(name)
    if len(name) <= 63:
        assert label == name


def test_long_intent_names_with_one_prefix_get_different_labels() -> None:
    assert intent_label("a" * 70 + "1") != intent_label("a" * 70 + "2")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(15.0, "15s"), (1.5, "1.5s"), (0.25, "0.25s"), (0.001, "0.001s"), (1e-9, "0.000000001s")],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text
