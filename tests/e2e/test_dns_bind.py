"""The dns plugin behind a real controller, updating a real BIND 9 over RFC 2136 with TSIG.

Every assertion is what BIND answers (queried with dnspython), or what the intent status
says, as an operator would check it.
"""

from __future__ import annotations

import base64
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.duration_pb2 import Duration

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2
from tests.bind import BindServer
from tests.component.conftest import Running, start_controller
from tests.support import wait_until

pytestmark = pytest.mark.e2e

ZONE = "example.com"


@pytest.fixture(scope="module")
def bind() -> Iterator[BindServer]:
    with BindServer((ZONE,)) as server:
        yield server


def sink(bind: BindServer, **overrides: Any) -> dict[str, Any]:
    return {
        "type": "rfc2136",
        "servers": [bind.address],
        "key_name": bind.key_name,
        "key_algorithm": bind.key_algorithm,
        "key_file": str(bind.key_file),
        **overrides,
    }


@contextlib.asynccontextmanager
async def controller(
    tmp_path: Path, sink_settings: dict[str, Any], owner: str | None = None, **settings: Any
) -> AsyncIterator[Running]:
    plugins = tmp_path / "plugins.d"
    plugins.mkdir(parents=True)
    (plugins / "dns.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "dns",
                "module": "tc.plugins.dns",
                "settings": {
                    "owner_id": owner or f"tc-{tmp_path.name}"[:60],
                    "sink": sink_settings,
                    **settings,
                },
            }
        )
    )
    r = await start_controller(tmp_path)
    try:
        await wait_until(r.controller.all_plugins_ready, what="dns instances ready")
        yield r
    finally:
        await r.channel.close()
        await r.controller.stop()


def records(name: str, host: str, *values: str, zone: str = ZONE) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=name,
        dns=intent_pb2.DnsSpec(
            zone=zone,
            records=[
                intent_pb2.DnsRecord(
                    name=host, type=intent_pb2.RECORD_TYPE_A, ttl=60, values=list(values)
                )
            ],
        ),
    )


async def apply(r: Running, intent: intent_pb2.Intent) -> None:
    await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=intent))


async def get(r: Running, name: str) -> intent_pb2.Intent:
    return (await r.intents.GetIntent(intent_pb2.GetIntentRequest(name=name))).intent


async def condition(r: Running, name: str, kind: str) -> intent_pb2.Condition:
    for c in (await get(r, name)).status.conditions:
        if c.type == kind:
            return c
    return intent_pb2.Condition()


def failed(r: Running, name: str, kind: str, reason: str | None = None) -> Any:
    async def check() -> bool:
        c = await condition(r, name, kind)
        return c.status == intent_pb2.CONDITION_STATUS_FALSE and reason in (None, c.reason)

    return check


async def test_create_update_delete_as_bind_answers(tmp_path: Path, bind: BindServer) -> None:
    async with controller(tmp_path, sink(bind)) as r:
        await apply(r, records("web", "web", "192.0.2.1"))
        await wait_until(lambda: r.ready("web"), what="web Ready")
        assert bind.values("web.example.com") == {"192.0.2.1"}
        (owner,) = bind.values("a-web.example.com", "TXT")
        assert "heritage=traffic-controller" in owner and "intent=web" in owner

        await apply(r, records("web", "web", "192.0.2.2", "192.0.2.3"))
        await wait_until(lambda: _holds(bind, "web", {"192.0.2.2", "192.0.2.3"}), what="update")
        await wait_until(lambda: r.ready("web"), what="web Ready again")

        # A service's hosts inside its DNS zone get its endpoints' addresses.
        shop = intent_pb2.Intent(
            name="shop",
            service=intent_pb2.ServiceSpec(
                hosts=["shop.example.com"],
                ports=[intent_pb2.Port(number=8080, protocol=intent_pb2.PROTOCOL_HTTP)],
                endpoints=[
                    intent_pb2.Endpoint(address="192.0.2.20", port=8080),
                    intent_pb2.Endpoint(address="2001:db8::20", port=8080),
                ],
                dns=intent_pb2.ServiceDns(zone=ZONE, ttl=30),
            ),
        )
        await apply(r, shop)
        await wait_until(lambda: r.ready("shop"), what="shop Ready")
        assert bind.values("shop.example.com") == {"192.0.2.20"}
        assert bind.values("shop.example.com", "AAAA") == {"2001:db8::20"}

        await r.intents.DeleteIntent(intent_pb2.DeleteIntentRequest(name="web"))
        await wait_until(lambda: r.gone("web"), what="web deleted")
        assert bind.values("web.example.com") == set()
        assert bind.values("a-web.example.com", "TXT") == set()
        assert bind.values("shop.example.com") == {"192.0.2.20"}  # not web's


async def test_a_record_we_do_not_own_is_untouched_and_reported(
    tmp_path: Path, bind: BindServer
) -> None:
    bind.nsupdate("update add legacy.example.com. 300 A 198.51.100.7")
    async with controller(tmp_path, sink(bind)) as r:
        await apply(r, records("legacy", "legacy", "192.0.2.9"))
        await wait_until(failed(r, "legacy", "Accepted"), what="legacy refused")
        message = (await condition(r, "legacy", "Accepted")).message
        assert "legacy.example.com" in message
        assert bind.values("legacy.example.com") == {"198.51.100.7"}


async def test_an_external_edit_between_two_of_our_updates_is_a_conflict(
    tmp_path: Path, bind: BindServer
) -> None:
    async with controller(tmp_path, sink(bind)) as r:
        await apply(r, records("api", "api", "192.0.2.30"))
        await wait_until(lambda: r.ready("api"), what="api Ready")
        bind.nsupdate(
            "update delete api.example.com. A\nupdate add api.example.com. 60 A 203.0.113.5"
        )
        await apply(r, records("api", "api", "192.0.2.31"))
        await wait_until(failed(r, "api", "Accepted", "Conflict"), what="conflict")
        message = (await condition(r, "api", "Accepted")).message
        assert "api.example.com" in message and "outside" in message
        assert bind.values("api.example.com") == {"203.0.113.5"}  # the edit stands


async def test_a_wrong_tsig_key_is_a_clear_error_without_the_secret(
    tmp_path: Path, bind: BindServer
) -> None:
    wrong = base64.b64encode(b"not the key at all, 32 bytes!!!!").decode()
    settings = sink(bind, key_secret=wrong)
    del settings["key_file"]
    async with controller(tmp_path, settings) as r:
        await apply(r, records("denied", "denied", "192.0.2.40"))
        await wait_until(failed(r, "denied", "Programmed", "NotAuthorized"), what="refused key")
        message = (await condition(r, "denied", "Programmed")).message
        assert bind.key_name in message and wrong not in message
        assert bind.values("denied.example.com") == set()


async def test_an_unknown_zone_is_a_clear_error(tmp_path: Path, bind: BindServer) -> None:
    async with controller(tmp_path, sink(bind)) as r:
        await apply(r, records("elsewhere", "www", "192.0.2.50", zone="not-served.example"))
        await wait_until(failed(r, "elsewhere", "Programmed", "UnknownZone"), what="no zone")
        message = (await condition(r, "elsewhere", "Programmed")).message
        assert "not-served.example" in message


async def test_sync_restores_records_deleted_behind_our_back(
    tmp_path: Path, bind: BindServer
) -> None:
    async with controller(tmp_path, sink(bind)) as r:
        await apply(r, records("restore", "restore", "192.0.2.60"))
        await wait_until(lambda: r.ready("restore"), what="restore Ready")
        bind.nsupdate("update delete restore.example.com. A")
        assert bind.values("restore.example.com") == set()
        status = await r.lifecycle.GetStatus(lifecycle_pb2.GetStatusRequest())
        (dns_plugin,) = [p for p in status.plugins if p.name == "dns"]
        for instance in dns_plugin.instances:
            await r.lifecycle.RestartPluginInstance(
                lifecycle_pb2.RestartPluginInstanceRequest(plugin="dns", instance=instance.id)
            )
        await wait_until(
            lambda: _holds(bind, "restore", {"192.0.2.60"}), timeout=30, what="restored by Sync"
        )


async def test_sync_prunes_what_we_own_that_no_intent_wants_and_nothing_else(
    tmp_path: Path, bind: BindServer
) -> None:
    """Records of ours whose intent is gone (deleted while no instance was up) are pruned
    by the next Sync of the zones the plugin manages; a record set nobody owns, and one
    another owner id wrote, stay."""
    owner = f"tc-{tmp_path.name}"[:60]
    ours = f'"heritage=traffic-controller,owner={owner},intent=ghost,values=0"'
    theirs = '"heritage=traffic-controller,owner=someone-else,intent=ghost,values=0"'
    bind.nsupdate(
        "update add ghost.example.com. 60 A 192.0.2.70\n"
        f"update add a-ghost.example.com. 60 TXT {ours}\n"
        "update add kept.example.com. 60 A 192.0.2.71\n"
        f"update add a-kept.example.com. 60 TXT {theirs}\n"
        "update add manual.example.com. 60 A 192.0.2.72"
    )
    # The ghost's digest ("0") is not what it holds: a hand edit, reported and left.
    async with controller(tmp_path, sink(bind), owner, zones=[ZONE]) as r:
        await apply(r, records("live", "live", "192.0.2.73"))
        await wait_until(lambda: r.ready("live"), what="live Ready (after the first Sync)")
        assert bind.values("ghost.example.com") == {"192.0.2.70"}
    bind.nsupdate(
        "update delete a-ghost.example.com. TXT\n"
        f"update add a-ghost.example.com. 60 TXT {ours.replace('values=0', 'values=')}"
    )
    # Without a digest the record set is ours to prune: a fresh controller's Sync does it.
    async with controller(tmp_path / "again", sink(bind), owner, zones=[ZONE]) as r:
        await apply(r, records("live", "live", "192.0.2.73"))
        await wait_until(lambda: r.ready("live"), what="live Ready")
        await wait_until(lambda: _holds(bind, "ghost", set()), timeout=30, what="the ghost pruned")
    assert bind.values("a-ghost.example.com", "TXT") == set()
    assert bind.values("kept.example.com") == {"192.0.2.71"}
    assert bind.values("manual.example.com") == {"192.0.2.72"}


async def _holds(bind: BindServer, host: str, values: set[str]) -> bool:
    return bind.values(f"{host}.example.com") == values


async def test_an_unhealthy_endpoint_is_withdrawn_and_restored(
    tmp_path: Path, bind: BindServer
) -> None:
    """A service asking for `withdraw_unhealthy`: the heartbeat monitor finds one endpoint
    dead, BIND stops answering its address, and answers it again once it is back."""
    alive = socket.socket()
    alive.bind(("127.0.0.1", 0))
    alive.listen()
    port = alive.getsockname()[1]
    intent = intent_pb2.Intent(
        name="stock",
        service=intent_pb2.ServiceSpec(
            hosts=["stock.example.com"],
            ports=[intent_pb2.Port(number=80, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[
                intent_pb2.Endpoint(address="127.0.0.1", port=port),
                # Nothing listens on 127.0.0.2 yet: connections are refused.
                intent_pb2.Endpoint(address="127.0.0.2", port=port),
            ],
            health_check=intent_pb2.HealthCheck(
                type=intent_pb2.HEALTH_CHECK_TYPE_TCP,
                interval=Duration(nanos=200_000_000),
                timeout=Duration(nanos=100_000_000),
                unhealthy_threshold=2,
                healthy_threshold=2,
            ),
            dns=intent_pb2.ServiceDns(zone=ZONE, ttl=30, withdraw_unhealthy=True),
        ),
    )
    try:
        async with controller(tmp_path, sink(bind)) as r:
            await apply(r, intent)
            await wait_until(
                lambda: _holds(bind, "stock", {"127.0.0.1"}), timeout=20, what="127.0.0.2 withdrawn"
            )
            back = socket.socket()
            back.bind(("127.0.0.2", port))
            back.listen()
            try:
                await wait_until(
                    lambda: _holds(bind, "stock", {"127.0.0.1", "127.0.0.2"}),
                    timeout=20,
                    what="127.0.0.2 restored",
                )
            finally:
                back.close()
    finally:
        alive.close()
