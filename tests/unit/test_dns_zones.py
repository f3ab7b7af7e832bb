"""Zone matching on label boundaries, and the ownership record names that live in zones."""

from __future__ import annotations

import pytest

from tc.plugins.dns.records import RecordKey, owned_key, ownership_name
from tc.plugins.dns.zones import is_under, zone_for


@pytest.mark.parametrize(
    ("name", "zone", "expected"),
    [
        ("example.com", "example.com", True),
        ("www.example.com", "example.com", True),
        ("a.b.example.com", "example.com", True),
        ("*.shop.example.com", "shop.example.com", True),
        ("WWW.Example.COM.", "example.com", True),
        ("www.example.com", "EXAMPLE.com.", True),
        ("badexample.com", "example.com", False),
        ("example.com", "www.example.com", False),
        ("example.org", "example.com", False),
        ("com", "example.com", False),
        ("www.example.com", "", False),
        ("www.example.com", ".", False),
        ("", "", False),
    ],
)
def test_is_under(name: str, zone: str, expected: bool) -> None:
    assert is_under(name, zone) is expected


@pytest.mark.parametrize(
    ("name", "zones", "expected"),
    [
        ("www.example.com", ["example.com"], "example.com"),
        ("www.sub.example.com", ["example.com", "sub.example.com"], "sub.example.com"),
        ("www.sub.example.com", ["sub.example.com", "example.com"], "sub.example.com"),
        ("www.example.com", ["example.com", "sub.example.com"], "example.com"),
        ("sub.example.com", ["example.com", "sub.example.com"], "sub.example.com"),
        ("www.badexample.com", ["example.com"], None),
        ("badexample.com", ["example.com", "com"], "com"),
        ("WWW.Example.Com.", ["example.com."], "example.com"),
        ("www.example.com", ["Example.COM."], "example.com"),
        ("www.example.com", [], None),
        ("www.example.com", ["", "."], None),
        ("www.example.com", [".", "example.com"], "example.com"),
        ("www.example.org", ["example.com", "example.net"], None),
    ],
)
def test_zone_for_takes_the_longest_zone_on_label_boundaries(
    name: str, zones: list[str], expected: str | None
) -> None:
    assert zone_for(name, zones) == expected


@pytest.mark.parametrize(
    ("key", "zone", "affix", "name"),
    [
        (RecordKey("www.example.com", "A"), "example.com", "", "a-www.example.com"),
        (RecordKey("example.com", "A"), "example.com", "", "a-.example.com"),
        (RecordKey("example.com", "TXT"), "example.com", "", "txt-.example.com"),
        (RecordKey("x.y.example.com", "AAAA"), "example.com", "", "aaaa-x.y.example.com"),
        (RecordKey("my-host.example.com", "CNAME"), "example.com", "", "cname-my-host.example.com"),
        (RecordKey("_sip._tcp.example.com", "SRV"), "example.com", "", "srv-_sip._tcp.example.com"),
        (RecordKey("*.shop.example.com", "A"), "example.com", "", "a-*.shop.example.com"),
        (RecordKey("sub.example.com", "A"), "sub.example.com", "", "a-.sub.example.com"),
        (RecordKey("sub.example.com", "A"), "example.com", "", "a-sub.example.com"),
        (RecordKey("www.example.com", "A"), "example.com", "tc-", "tc-a-www.example.com"),
        (RecordKey("example.com", "AAAA"), "example.com", "_o", "_oaaaa-.example.com"),
        (RecordKey("a-www.example.com", "A"), "example.com", "", "a-a-www.example.com"),
    ],
)
def test_ownership_names_round_trip(key: RecordKey, zone: str, affix: str, name: str) -> None:
    assert ownership_name(key, zone, affix) == name
    assert owned_key(name, zone, affix) == key


@pytest.mark.parametrize(
    ("name", "zone", "affix"),
    [
        ("www.example.com", "example.com", ""),  # no type prefix
        ("my-host.example.com", "example.com", ""),  # "my" is no record type
        ("mx-www.example.com", "example.com", ""),  # not a managed type
        ("a-www.example.com", "example.com", "tc-"),  # affix missing
        ("tc-www.example.com", "example.com", "tc-"),  # affix, then no type
        ("a-www.example.org", "example.com", ""),  # outside the zone
        ("a-.sub.example.com", "example.com", ""),  # apex form of another zone
        ("example.com", "example.com", ""),  # the apex itself
        ("a-.example.com", "", ""),  # never the root
    ],
)
def test_names_that_are_no_ownership_names(name: str, zone: str, affix: str) -> None:
    assert owned_key(name, zone, affix) is None


def test_owned_key_ignores_case_and_trailing_dots() -> None:
    assert owned_key("A-WWW.Example.com.", "example.com.", "") == RecordKey("www.example.com", "A")
