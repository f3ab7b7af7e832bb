"""The dns plugin behind a real controller with its embedded sink: intents in, zone files out.

Each zone file is read back with dnspython and checked with BIND's named-checkzone, as an
operator serving the directory would.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import dns.zone
import pytest
import yaml

from tc._proto.tc.v1 import intent_pb2
from tests.component.conftest import Running, start_controller
from tests.support import wait_until

ZONE = "example.com"


def checkzone() -> str:
    for candidate in ("/usr/bin/named-checkzone", "/usr/sbin/named-checkzone"):
        if Path(candidate).exists():
            return candidate
    raise AssertionError("named-checkzone is missing: `make test` installs bind9-utils")


def records(
    name: str = "site",
    values: tuple[str, ...] = ("192.0.2.10",),
    *,
    policy: int = intent_pb2.DNS_POLICY_SYNC,
) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=name,
        dns=intent_pb2.DnsSpec(
            zone=ZONE,
            policy=policy,
            records=[
                intent_pb2.DnsRecord(
                    name="www", type=intent_pb2.RECORD_TYPE_A, ttl=60, values=list(values)
                ),
                intent_pb2.DnsRecord(
                    name="@", type=intent_pb2.RECORD_TYPE_TXT, values=["v=spf1 -all"]
                ),
            ],
        ),
    )


@contextlib.asynccontextmanager
async def dns_plugin(tmp_path: Path, **settings: Any) -> AsyncIterator[tuple[Running, Path]]:
    """A controller whose only plugin is dns, writing zone files under tmp_path/zones."""
    out = tmp_path / "zones"
    plugins = tmp_path / "plugins.d"
    plugins.mkdir()
    (plugins / "dns.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "dns",
                "module": "tc.plugins.dns",
                "settings": {"sink": {"type": "zonefile", "path": str(out)}, **settings},
            }
        )
    )
    r = await start_controller(tmp_path)
    try:
        await wait_until(r.controller.all_plugins_ready, what="dns instances ready")
        yield r, out
    finally:
        await r.channel.close()
        await r.controller.stop()


@pytest.fixture
async def zonefiles(tmp_path: Path) -> AsyncIterator[tuple[Running, Path]]:
    async with dns_plugin(tmp_path) as pair:
        yield pair


@pytest.fixture
async def dry_run(tmp_path: Path) -> AsyncIterator[tuple[Running, Path]]:
    async with dns_plugin(tmp_path, dry_run=True) as pair:
        yield pair


def zone_file(out: Path) -> Path:
    return out / f"{ZONE}.zone"


def read_zone(out: Path) -> dict[tuple[str, str], set[str]]:
    zone = dns.zone.from_file(str(zone_file(out)), origin=ZONE, relativize=False)
    found: dict[tuple[str, str], set[str]] = {}
    for name, rdataset in zone.iterate_rdatasets():
        key = (name.to_text(omit_final_dot=True), dns.rdatatype.to_text(rdataset.rdtype))
        found[key] = {r.to_text() for r in rdataset}
    subprocess.run(
        [checkzone(), ZONE, str(zone_file(out))], check=True, capture_output=True, timeout=30
    )
    return found


async def get(r: Running, name: str) -> intent_pb2.Intent:
    return (await r.intents.GetIntent(intent_pb2.GetIntentRequest(name=name))).intent


async def apply(r: Running, intent: intent_pb2.Intent) -> None:
    await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=intent))


def condition(intent: intent_pb2.Intent, kind: str) -> intent_pb2.Condition | None:
    for c in intent.status.conditions:
        if c.type == kind:
            return c
    return None


async def test_records_and_their_ownership_land_in_a_valid_zone_file(
    zonefiles: tuple[Running, Path],
) -> None:
    r, out = zonefiles
    await apply(r, records())
    await wait_until(lambda: r.ready("site"), what="site Ready")
    found = read_zone(out)
    assert found[("www.example.com", "A")] == {"192.0.2.10"}
    assert found[("example.com", "TXT")] == {'"v=spf1 -all"'}
    owner = found[("a-www.example.com", "TXT")]
    assert len(owner) == 1
    assert "heritage=traffic-controller,owner=traffic-controller,intent=site" in next(iter(owner))

    await apply(r, records(values=("192.0.2.11", "192.0.2.12")))
    await wait_until(lambda: r.ready("site"), what="site updated")
    assert read_zone(out)[("www.example.com", "A")] == {"192.0.2.11", "192.0.2.12"}

    await r.intents.DeleteIntent(intent_pb2.DeleteIntentRequest(name="site"))
    await wait_until(lambda: r.gone("site"), what="site removed")
    left = read_zone(out)
    assert ("www.example.com", "A") not in left
    assert ("a-www.example.com", "TXT") not in left
    assert ("example.com", "SOA") in left  # the zone itself stays


async def test_a_record_we_do_not_own_is_left_alone_and_named(
    zonefiles: tuple[Running, Path],
) -> None:
    r, out = zonefiles
    await apply(r, records(name="first"))
    await wait_until(lambda: r.ready("first"), what="first Ready")
    # A person adds a record by hand where a later intent wants one.
    text = zone_file(out).read_text() + "mail.example.com. 300 IN A 192.0.2.99\n"
    zone_file(out).write_text(text)
    mail = intent_pb2.Intent(
        name="mail",
        dns=intent_pb2.DnsSpec(
            zone=ZONE,
            records=[
                intent_pb2.DnsRecord(
                    name="mail", type=intent_pb2.RECORD_TYPE_A, values=["192.0.2.50"]
                )
            ],
        ),
    )
    await apply(r, mail)

    async def refused() -> bool:
        accepted = condition(await get(r, "mail"), "Accepted")
        return accepted is not None and accepted.status == intent_pb2.CONDITION_STATUS_FALSE

    await wait_until(refused, what="mail refused")
    accepted = condition(await get(r, "mail"), "Accepted")
    assert accepted is not None and "mail.example.com" in accepted.message
    assert read_zone(out)[("mail.example.com", "A")] == {"192.0.2.99"}


async def test_dry_run_reports_the_plan_and_writes_nothing(
    dry_run: tuple[Running, Path],
) -> None:
    r, out = dry_run
    await apply(r, records())

    async def planned() -> bool:
        programmed = condition(await get(r, "site"), "Programmed")
        return programmed is not None and programmed.reason == "DryRun"

    await wait_until(planned, what="a dry-run plan")
    programmed = condition(await get(r, "site"), "Programmed")
    assert programmed is not None
    assert "create A www.example.com (192.0.2.10)" in programmed.message
    assert not zone_file(out).exists() or ("www.example.com", "A") not in read_zone(out)
