"""From intents to wanted record sets: names, zones, TTLs, service hosts, health, collisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tc import ir
from tc.ir.errors import FieldError
from tc.plugins.dns.render import Wanted, render_all, render_intent

SYNC, UPSERT_ONLY, CREATE_ONLY = (
    ir.DnsPolicy.SYNC,
    ir.DnsPolicy.UPSERT_ONLY,
    ir.DnsPolicy.CREATE_ONLY,
)

Row = tuple[str, str, str, int, tuple[str, ...], str]


def rec(name: str, rtype: str, *values: str, ttl: int = 300) -> ir.DnsRecord:
    return ir.DnsRecord(name=name, type=ir.RecordType[rtype], ttl=ttl, values=values)


def dns_intent(
    name: str, *records: ir.DnsRecord, zone: str = "example.com", policy: ir.DnsPolicy = SYNC
) -> ir.Intent:
    return ir.Intent(name=name, spec=ir.DnsSpec(zone=zone, records=records, policy=policy))


def service(
    name: str = "shop",
    *,
    hosts: Sequence[str] = ("shop.example.com",),
    endpoints: Sequence[ir.Endpoint] = (ir.Endpoint(address="10.0.0.1"),),
    zone: str = "example.com",
    ttl: int = 60,
    withdraw: bool = False,
    ports: Sequence[ir.Port] = (ir.Port(number=8080, protocol=ir.Protocol.HTTP),),
    dns: bool = True,
) -> ir.Intent:
    service_dns = ir.ServiceDns(zone=zone, ttl=ttl, withdraw_unhealthy=withdraw) if dns else None
    spec = ir.ServiceSpec(
        hosts=tuple(hosts), ports=tuple(ports), endpoints=tuple(endpoints), dns=service_dns
    )
    return ir.Intent(name=name, spec=spec)


def rows(wanted: Sequence[Wanted]) -> list[Row]:
    return [
        (w.zone, w.record.name, w.record.type, w.record.ttl, w.record.values, w.intent)
        for w in wanted
    ]


def render(intent: ir.Intent, **options: Any) -> tuple[list[Row], list[FieldError]]:
    options.setdefault("zones", ())
    wanted, errors = render_intent(intent, **options)
    return rows(wanted), errors


# -- DNS intents --------------------------------------------------------------------------------


def test_every_type_and_every_spelling_of_a_name() -> None:
    intent = dns_intent(
        "site",
        rec("@", "A", "192.0.2.1", "192.0.2.2", ttl=60),
        rec("@", "AAAA", "2001:DB8:0::1"),
        rec("@", "TXT", "v=spf1 -all"),
        rec("www", "CNAME", "example.com"),
        rec(
            "_sip._tcp.example.com",
            "SRV",
            "10 5 5060 sip.example.com.",
            "20 5 5060 sip2.example.com",
        ),
        rec("*", "A", "192.0.2.9"),
        rec("api.example.com", "A", "192.0.2.3"),
    )
    assert render(intent) == (
        [
            ("example.com", "example.com", "A", 60, ("192.0.2.1", "192.0.2.2"), "site"),
            ("example.com", "example.com", "AAAA", 300, ("2001:db8::1",), "site"),
            ("example.com", "example.com", "TXT", 300, ('"v=spf1 -all"',), "site"),
            ("example.com", "www.example.com", "CNAME", 300, ("example.com.",), "site"),
            (
                "example.com",
                "_sip._tcp.example.com",
                "SRV",
                300,
                ("10 5 5060 sip.example.com.", "20 5 5060 sip2.example.com."),
                "site",
            ),
            ("example.com", "*.example.com", "A", 300, ("192.0.2.9",), "site"),
            ("example.com", "api.example.com", "A", 300, ("192.0.2.3",), "site"),
        ],
        [],
    )


@pytest.mark.parametrize(
    ("ttl", "min_ttl", "expected"),
    [(30, 0, 30), (30, 60, 60), (600, 60, 600), (60, 60, 60)],
)
def test_min_ttl_is_a_floor(ttl: int, min_ttl: int, expected: int) -> None:
    intent = dns_intent("site", rec("www", "A", "192.0.2.1", ttl=ttl))
    (row,), _ = render(intent, min_ttl=min_ttl)
    assert row[3] == expected
    (row,), _ = render(service(ttl=ttl), min_ttl=min_ttl)
    assert row[3] == expected


@pytest.mark.parametrize("policy", [SYNC, UPSERT_ONLY, CREATE_ONLY])
def test_the_policy_comes_from_the_dns_intent(policy: ir.DnsPolicy) -> None:
    wanted, _ = render_intent(
        dns_intent("site", rec("www", "A", "192.0.2.1"), policy=policy), zones=()
    )
    assert [w.policy for w in wanted] == [policy]


@pytest.mark.parametrize(
    ("zones", "expected"),
    [
        ((), ["example.com", "example.com"]),
        (("example.com",), ["example.com", "example.com"]),
        (("sub.example.com", "example.com"), ["example.com", "sub.example.com"]),
        (("EXAMPLE.com.", "sub.example.com."), ["example.com", "sub.example.com"]),
    ],
)
def test_records_go_to_the_longest_configured_zone(
    zones: tuple[str, ...], expected: list[str]
) -> None:
    intent = dns_intent("site", rec("www", "A", "192.0.2.1"), rec("x.sub", "A", "192.0.2.2"))
    found, errors = render(intent, zones=zones)
    assert errors == []
    assert [row[0] for row in found] == expected


def test_a_record_no_configured_zone_serves_is_an_error_on_the_zone() -> None:
    intent = dns_intent(
        "site",
        rec("@", "A", "192.0.2.1"),
        rec("www", "A", "192.0.2.1"),
        rec("www", "AAAA", "2001:db8::1"),
        rec("x.sub", "A", "192.0.2.2"),
    )
    assert render(intent, zones=("sub.example.com", "example.org")) == (
        [],
        [
            FieldError(
                "spec.dns.zone",
                'no zone this plugin updates serves "example.com", "www.example.com" '
                '(configured zones: "example.org", "sub.example.com")',
            )
        ],
    )


@pytest.mark.parametrize(
    ("record", "path", "message"),
    [
        (("www", "A", ("192.0.2.1", "192.0.2.300")), "spec.dns.records[1].values[1]", "A value"),
        (("www", "AAAA", ("2001:db8::g",)), "spec.dns.records[1].values[0]", "AAAA value"),
        (("www", "SRV", ("10 5 sip.example.com",)), "spec.dns.records[1].values[0]", "SRV value"),
        (("www", "CNAME", ("a..b",)), "spec.dns.records[1].values[0]", "CNAME value"),
        ((f"{'x' * 64}", "A", ("192.0.2.1",)), "spec.dns.records[1].name", "not a valid DNS name"),
    ],
)
def test_what_dns_cannot_parse_is_a_field_error(
    record: tuple[str, str, tuple[str, ...]], path: str, message: str
) -> None:
    name, rtype, values = record
    # Built unchecked, as a model that skipped the IR rules would arrive.
    bad = ir.DnsRecord.trusted(name=name, type=ir.RecordType[rtype], ttl=300, values=values)
    good = rec("ok", "A", "192.0.2.1")
    spec = ir.DnsSpec.trusted(zone="example.com", records=(good, bad), policy=SYNC)
    found, errors = render(ir.Intent.trusted(name="site", labels={}, spec=spec))
    assert found == []  # all or nothing: the good record is not wanted either
    assert [e.path for e in errors] == [path]
    assert message in errors[0].message


def test_an_ownership_name_dns_cannot_hold_is_an_error() -> None:
    label = "x" * 62  # fits, but "a-" + 62 characters is one over the 63 a label may have
    found, errors = render(dns_intent("site", rec(label, "A", "192.0.2.1")))
    assert found == []
    assert [e.path for e in errors] == ["spec.dns.records[0].name"]
    assert f'"a-{label}.example.com"' in errors[0].message


@pytest.mark.parametrize(
    ("affix", "errors"),
    [
        (
            "",
            [
                FieldError(
                    "spec.dns.records[1].name",
                    'its ownership record would be at "a-www.example.com", where a TXT record '
                    "set is wanted by spec.dns.records[0]; set the plugin's ownership_affix to "
                    "move ownership records out of the way",
                )
            ],
        ),
        ("tc-", []),
    ],
)
def test_a_record_at_its_own_intents_ownership_name(affix: str, errors: list[FieldError]) -> None:
    intent = dns_intent("site", rec("a-www", "TXT", "hello"), rec("www", "A", "192.0.2.1"))
    found, got = render(intent, affix=affix)
    assert got == errors
    assert len(found) == (0 if errors else 2)


def test_a_workload_intent_wants_nothing() -> None:
    workload = ir.Intent(
        name="shop-canary",
        spec=ir.WorkloadSpec(target="shop", split=(ir.TrafficSplit(subset="v1", weight=100),)),
    )
    assert render(workload, zones=("example.com",)) == ([], [])


# -- service intents ----------------------------------------------------------------------------


def test_service_hosts_inside_the_zone_get_a_and_aaaa() -> None:
    intent = service(
        hosts=("shop.example.com", "*.shop.example.com", "shop.example.net", "example.com"),
        endpoints=(
            ir.Endpoint(address="10.0.0.2"),
            ir.Endpoint(address="10.0.0.1", port=9000),
            ir.Endpoint(address="10.0.0.1", port=9001),
            ir.Endpoint(address="2001:DB8::1"),
            ir.Endpoint(address="2001:db8:0::1", port=9000),  # the same address, spelt otherwise
            ir.Endpoint(address="shop-1.example.org"),  # a host name: no address record
        ),
    )
    v4, v6 = ("10.0.0.1", "10.0.0.2"), ("2001:db8::1",)
    assert render(intent) == (
        [
            ("example.com", "shop.example.com", "A", 60, v4, "shop"),
            ("example.com", "shop.example.com", "AAAA", 60, v6, "shop"),
            ("example.com", "*.shop.example.com", "A", 60, v4, "shop"),
            ("example.com", "*.shop.example.com", "AAAA", 60, v6, "shop"),
            ("example.com", "example.com", "A", 60, v4, "shop"),
            ("example.com", "example.com", "AAAA", 60, v6, "shop"),
        ],
        [],
    )
    wanted, _ = render_intent(intent, zones=())
    assert {w.policy for w in wanted} == {SYNC}


def test_a_label_boundary_decides_whether_a_host_is_in_the_zone() -> None:
    intent = service(hosts=("shop.badexample.com", "shop.example.com"))
    assert [row[1] for row in render(intent)[0]] == ["shop.example.com"]


@pytest.mark.parametrize(
    ("endpoints", "types"),
    [
        ((ir.Endpoint(address="10.0.0.1"),), ["A"]),
        ((ir.Endpoint(address="2001:db8::1"),), ["AAAA"]),
        ((ir.Endpoint(address="shop-1.example.org"),), []),
        ((), []),
    ],
)
def test_only_the_families_the_endpoints_have(
    endpoints: tuple[ir.Endpoint, ...], types: list[str]
) -> None:
    assert [row[2] for row in render(service(endpoints=endpoints))[0]] == types


def test_a_service_without_dns_wants_nothing() -> None:
    assert render(service(dns=False), zones=("example.com",)) == ([], [])


def test_service_hosts_go_to_configured_zones() -> None:
    intent = service(hosts=("shop.example.com", "shop.eu.example.com"))
    found, errors = render(intent, zones=("eu.example.com", "example.com"))
    assert errors == []
    assert [(row[0], row[1]) for row in found] == [
        ("example.com", "shop.example.com"),
        ("eu.example.com", "shop.eu.example.com"),
    ]
    found, errors = render(intent, zones=("eu.example.com",))
    assert found == []
    assert errors == [
        FieldError(
            "spec.service.dns.zone",
            'no zone this plugin updates serves "shop.example.com" '
            '(configured zones: "eu.example.com")',
        )
    ]


def test_an_endpoint_address_dns_cannot_parse_is_a_field_error() -> None:
    good = service()
    assert isinstance(good.spec, ir.ServiceSpec)
    scoped = ir.Endpoint.trusted(
        address="fe80::1%eth0", port=None, weight=1, subset=None, locality=None
    )
    spec = good.spec.model_copy(update={"endpoints": (*good.spec.endpoints, scoped)})
    found, errors = render(ir.Intent.trusted(name="shop", labels={}, spec=spec))
    assert found == []
    assert [e.path for e in errors] == ["spec.service.endpoints[1].address"]


# -- withdrawal of unhealthy endpoints ---------------------------------------------------------

A1, A2, B1 = "10.0.0.1", "10.0.0.2", "2001:db8::1"


@pytest.mark.parametrize(
    ("withdraw", "endpoints", "health", "a", "aaaa"),
    [
        pytest.param(
            False, [(A1, None), (A2, None)], {(A1, 8080): False}, (A1, A2), (), id="withdraw-off"
        ),
        pytest.param(True, [(A1, None), (A2, None)], None, (A1, A2), (), id="no-health-known"),
        pytest.param(
            True, [(A1, None), (A2, None)], {(A1, 8080): False}, (A2,), (), id="unhealthy-out"
        ),
        pytest.param(
            True,
            [(A1, None), (A2, None)],
            {(A1, 8080): False, (A2, 8080): True},
            (A2,),
            (),
            id="healthy-stays",
        ),
        pytest.param(
            True, [(A1, None), (A2, None)], {(A2, 8080): False}, (A1,), (), id="unknown-stays"
        ),
        pytest.param(
            True,
            [(A1, 9000), (A1, 9001), (A2, 9000)],
            {(A1, 9000): False, (A1, 9001): True},
            (A1, A2),
            (),
            id="one-healthy-port-keeps-the-address",
        ),
        pytest.param(
            True,
            [(A1, 9000), (A1, 9001), (A2, 9000)],
            {(A1, 9000): False},
            (A1, A2),
            (),
            id="one-unknown-port-keeps-the-address",
        ),
        pytest.param(
            True,
            [(A1, 9000), (A1, 9001), (A2, 9000)],
            {(A1, 9000): False, (A1, 9001): False},
            (A2,),
            (),
            id="every-port-unhealthy",
        ),
        pytest.param(
            True,
            [(A1, None), (A2, None)],
            {(A1, 8080): False, (A2, 8080): False},
            (A1, A2),
            (),
            id="all-unhealthy-fails-open",
        ),
        pytest.param(
            True,
            [(A1, None), (B1, None)],
            {(A1, 8080): False, (B1, 8080): True},
            (A1,),
            (B1,),
            id="fail-open-per-record-set",
        ),
        pytest.param(
            True,
            [(A1, None), (A2, None), (B1, None)],
            {(A1, 8080): False, (B1, 8080): False},
            (A2,),
            (B1,),
            id="families-apart",
        ),
    ],
)
def test_withdraw_unhealthy(
    withdraw: bool,
    endpoints: list[tuple[str, int | None]],
    health: dict[tuple[str, int], bool] | None,
    a: tuple[str, ...],
    aaaa: tuple[str, ...],
) -> None:
    intent = service(
        endpoints=[ir.Endpoint(address=address, port=port) for address, port in endpoints],
        withdraw=withdraw,
    )
    found, errors = render(intent, endpoint_health=health)
    assert errors == []
    assert {row[2]: row[4] for row in found} == {
        t: values for t, values in (("A", a), ("AAAA", aaaa)) if values
    }


@pytest.mark.parametrize(
    ("health", "a"),
    [
        ({(A1, 8080): False}, (A2,)),  # the first port's target port
        ({(A1, 80): False}, (A1, A2)),  # the port number is not where the endpoint listens
        ({(A1, 9090): False}, (A1, A2)),  # nor is the second port
    ],
)
def test_an_endpoint_without_a_port_is_looked_up_on_the_first_target_port(
    health: dict[tuple[str, int], bool], a: tuple[str, ...]
) -> None:
    ports = (
        ir.Port(number=80, protocol=ir.Protocol.HTTP, target_port=8080),
        ir.Port(number=90, protocol=ir.Protocol.HTTP, target_port=9090),
    )
    intent = service(
        endpoints=(ir.Endpoint(address=A1), ir.Endpoint(address=A2)), ports=ports, withdraw=True
    )
    (row,), _ = render(intent, endpoint_health=health)
    assert row[4] == a


# -- render_all: several intents ----------------------------------------------------------------


def all_rows(
    intents: Sequence[ir.Intent], **options: Any
) -> tuple[list[Row], dict[str, list[str]]]:
    options.setdefault("zones", ())
    wanted, errors = render_all(intents, **options)
    return rows(wanted), {name: [str(e) for e in errs] for name, errs in errors.items()}


def test_output_is_sorted_and_independent_of_input_order() -> None:
    intents = [
        dns_intent("b-site", rec("b", "A", "192.0.2.2")),
        service(hosts=("shop.example.com",)),
        dns_intent("a-site", rec("c", "A", "192.0.2.3"), zone="example.org"),
        dns_intent("c-site", rec("a", "A", "192.0.2.1")),
    ]
    expected: tuple[list[Row], dict[str, list[str]]] = (
        [
            ("example.com", "a.example.com", "A", 300, ("192.0.2.1",), "c-site"),
            ("example.com", "b.example.com", "A", 300, ("192.0.2.2",), "b-site"),
            ("example.com", "shop.example.com", "A", 60, ("10.0.0.1",), "shop"),
            ("example.org", "c.example.org", "A", 300, ("192.0.2.3",), "a-site"),
        ],
        {},
    )
    assert all_rows(intents) == expected
    assert all_rows(list(reversed(intents))) == expected


FIRST = 'intent "{}", which comes first in name order'


@pytest.mark.parametrize(
    ("later", "path", "message"),
    [
        pytest.param(
            dns_intent("b", rec("www", "A", "192.0.2.9"), rec("other", "A", "192.0.2.9")),
            "spec.dns.records[0].name",
            f'the A record set "www.example.com" is already wanted by {FIRST.format("a")}',
            id="same-record-set",
        ),
        pytest.param(
            dns_intent("b", rec("www", "CNAME", "elsewhere.example.net")),
            "spec.dns.records[0].name",
            'a CNAME cannot share the name "www.example.com" with the A record set wanted '
            f"by {FIRST.format('a')}",
            id="cname-beside-data",
        ),
        pytest.param(
            dns_intent("b", rec("cname-target", "A", "192.0.2.9")),
            "spec.dns.records[0].name",
            'a name with a CNAME has no other data, and "cname-target.example.com" is a CNAME '
            f"wanted by {FIRST.format('a')}",
            id="data-beside-cname",
        ),
        pytest.param(
            dns_intent("b", rec("a-www", "TXT", "hello")),
            "spec.dns.records[0].name",
            '"a-www.example.com" is the ownership record name of the A record set '
            f'"www.example.com" wanted by {FIRST.format("a")}; set the plugin\'s '
            "ownership_affix to move ownership records out of the way",
            id="at-an-ownership-name",
        ),
        pytest.param(
            dns_intent("b", rec("mine", "A", "192.0.2.9")),
            "spec.dns.records[0].name",
            'its ownership record would be at "a-mine.example.com", where a TXT record set is '
            f"wanted by {FIRST.format('a')}; set the plugin's ownership_affix to move ownership "
            "records out of the way",
            id="ownership-name-taken",
        ),
        pytest.param(
            service("b", hosts=("www.example.com",)),
            "spec.service.hosts[0]",
            f'the A record set "www.example.com" is already wanted by {FIRST.format("a")}',
            id="service-host",
        ),
    ],
)
def test_the_first_intent_in_name_order_wins(later: ir.Intent, path: str, message: str) -> None:
    first = dns_intent(
        "a",
        rec("www", "A", "192.0.2.1"),
        rec("cname-target", "CNAME", "www.example.com"),
        rec("a-mine", "TXT", "taken"),
    )
    for order in ([first, later], [later, first]):
        found, errors = all_rows(order)
        assert {row[5] for row in found} == {"a"}  # the later intent wants nothing at all
        assert errors == {"b": [f"{path}: {message}"]}


def test_an_affix_moves_ownership_records_out_of_the_way() -> None:
    intents = [
        dns_intent("a", rec("www", "A", "192.0.2.1")),
        dns_intent("b", rec("a-www", "TXT", "hello")),
    ]
    assert set(all_rows(intents)[1]) == {"b"}
    found, errors = all_rows(intents, affix="tc-")
    assert errors == {}
    assert [row[5] for row in found] == ["b", "a"]


def test_an_intent_with_errors_claims_nothing() -> None:
    bad = ir.DnsRecord.trusted(name="x", type=ir.RecordType.A, ttl=300, values=("192.0.2.300",))
    spec = ir.DnsSpec.trusted(
        zone="example.com", records=(rec("www", "A", "192.0.2.1"), bad), policy=SYNC
    )
    broken = ir.Intent.trusted(name="a", labels={}, spec=spec)
    later = dns_intent("b", rec("www", "A", "192.0.2.2"))
    found, errors = all_rows([broken, later])
    assert [(row[1], row[5]) for row in found] == [("www.example.com", "b")]
    assert list(errors) == ["a"]


def test_a_workload_among_the_intents_changes_nothing() -> None:
    workload = ir.Intent(name="0-canary", spec=ir.WorkloadSpec(target="shop"))
    assert all_rows([workload, service()]) == all_rows([service()])


def test_an_intent_given_twice_is_the_callers_mistake() -> None:
    with pytest.raises(ValueError, match="given twice"):
        render_all([service(), service()], zones=())
