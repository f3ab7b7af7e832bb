"""The resources a proxy receives, put together from the parts of every service: pure.

A port's listener and routes are shared by every service on it, so services can collide:
the same cluster name (the same <namespace>/<service> twice), a port one service uses for
HTTP and another for TCP, a virtual host name or a domain on a port, two default TCP routes
or one SNI name on a port. The first service in intent name order wins, so that every
instance decides alike and Envoy never sees a conflict it would refuse; the loser is told
why in `conflicts`, so its status does not claim traffic it does not get.

`Assembly` keeps that outcome up to date one change at a time, because a plugin holding
10,000 services must not walk all of them when one changes. A service's outcome depends
only on the services before it in name order that share something with it (a cluster name,
a port, a virtual host name or domain on a port), so a change re-decides the changed
services and, transitively, the later ones sharing something with a re-decided one. A port
whose kind (HTTP or TCP, the first service's) changes is re-decided whole, as is a TCP port
on any change (few services share one); an HTTP port whose layout (listeners.py) changes
puts out all its routes anew. `assemble_report` is the same machinery from empty, and the
tests hold the two to giving the same resources and conflicts, and those to be the ones
assembling everything in name order gave before scoped routes.

Nothing here does I/O: given the same parts, every instance assembles the same resources.
A service's load assignments are named after its own clusters (render_service makes them
so), which is why owning a cluster is owning its load assignment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from envoy.config.route.v3 import route_pb2
from envoy.config.route.v3.route_components_pb2 import VirtualHost
from google.protobuf.message import Message

from tc.plugins.envoy.listeners import (
    DEFAULT_LAYOUT,
    Layout,
    http_listener,
    route_configuration,
    scope,
    service_route_configuration,
    tcp_listener,
)
from tc.plugins.envoy.render import ServiceParts
from tc.plugins.envoy.resources import (
    CLUSTER,
    ENDPOINT,
    HTTP_PROTOCOLS,
    LISTENER,
    ROUTE,
    SCOPED_ROUTE,
    TYPE_URLS,
    Resources,
    exact_host,
    listener_name,
    route_name,
)

__all__ = ["Assembled", "Assembly", "Changes", "assemble", "assemble_report"]

Changes = dict[str, dict[str, Message | None]]
"""type URL -> resource name -> its new message, or None where it is gone."""


@dataclass(frozen=True)
class Assembled:
    """The resources of every service, and what each service could not have."""

    resources: Resources
    conflicts: dict[str, list[str]] = field(default_factory=dict)
    """By service intent name: each part it lost to a service earlier in name order."""


def assemble(parts: Mapping[str, ServiceParts], layout: Layout = DEFAULT_LAYOUT) -> Resources:
    """The resources of every service (see assemble_report), without the conflicts."""
    return assemble_report(parts, layout).resources


def assemble_report(
    parts: Mapping[str, ServiceParts], layout: Layout = DEFAULT_LAYOUT
) -> Assembled:
    """The resources of every service in `parts` (by service intent name), by type URL then
    name, names sorted, and the conflicts (module docstring)."""
    assembly = Assembly(layout)
    assembly.update(parts)
    return Assembled(assembly.resources(), dict(sorted(assembly.conflicts.items())))


def _closure(
    start: Iterable[str],
    claims: Mapping[str, set[str]],
    keys_of: Callable[[str], Iterable[str]],
) -> set[str]:
    """`start` and, transitively, every service after one in the set that shares a key
    with it: what can decide differently once those in `start` changed, as a service's
    outcome depends on the services before it only. `keys_of` gives a service's keys
    (for a changed one, its keys before the change too)."""
    out = set(start)
    todo = list(out)
    while todo:
        service = todo.pop()
        for key in keys_of(service):
            for other in claims.get(key, ()):
                if other > service and other not in out:
                    out.add(other)
                    todo.append(other)
    return out


def _claim(claims: dict[str, set[str]], keys: Iterable[str], service: str) -> None:
    for key in keys:
        claims.setdefault(key, set()).add(service)


def _unclaim(claims: dict[str, set[str]], keys: Iterable[str], service: str) -> None:
    for key in keys:
        holders = claims.get(key)
        if holders is not None:
            holders.discard(service)
            if not holders:
                del claims[key]


def _lost(what: str, winner: str) -> str:
    return f"{what} is taken by service intent {winner!r}"


class _Output:
    """The assembled resources, and the names set or removed since they were last taken."""

    def __init__(self) -> None:
        self.by_type: dict[str, dict[str, Message]] = {t: {} for t in TYPE_URLS}
        self._touched: dict[str, set[str]] = {t: set() for t in TYPE_URLS}

    def put(self, type_url: str, name: str, message: Message) -> None:
        if self.by_type[type_url].get(name) is not message:
            self.by_type[type_url][name] = message
            self._touched[type_url].add(name)

    def drop(self, type_url: str, name: str) -> None:
        if self.by_type[type_url].pop(name, None) is not None:
            self._touched[type_url].add(name)

    def take(self) -> Changes:
        out: Changes = {}
        for type_url, names in self._touched.items():
            if names:
                current = self.by_type[type_url]
                out[type_url] = {name: current.get(name) for name in sorted(names)}
                names.clear()
        return out


class _Clusters:
    """Which services are in at all: one sharing a cluster name with an earlier service (the
    same <namespace>/<service>) would send traffic to the other's endpoints, so it is left
    out entirely."""

    def __init__(self) -> None:
        self._claims: dict[str, set[str]] = {}
        self._owner: dict[str, str] = {}
        self.excluded: dict[str, str] = {}
        """Service -> why it is left out."""

    def update(
        self, parts: Mapping[str, ServiceParts], before: Mapping[str, ServiceParts | None]
    ) -> tuple[set[str], set[str]]:
        """Re-decides after the services in `before` (their previous parts; None: new)
        changed to what `parts` (every service) holds. Returns the services re-decided, and
        those among them whose clusters are to be placed again: the changed ones and those
        now in or out."""

        def names(p: ServiceParts | None) -> list[str]:
            return [c.name for c in p.clusters] if p is not None else []

        for service, old in before.items():
            _unclaim(self._claims, names(old), service)
            _claim(self._claims, names(parts.get(service)), service)

        def keys(service: str) -> list[str]:
            return names(parts.get(service)) + names(before.get(service))

        decided = _closure(before, self._claims, keys)
        was_in = {s for s in decided if s not in self.excluded and before.get(s, parts.get(s))}
        for service in decided:
            self.excluded.pop(service, None)
            for name in names(before.get(service)) + names(parts.get(service)):
                if self._owner.get(name) == service:
                    del self._owner[name]
        for service in sorted(decided):
            self._decide(service, parts.get(service))
        now_in = {s for s in decided if s in parts and s not in self.excluded}
        return decided, set(before) | (was_in ^ now_in)

    def included(self, parts: Mapping[str, ServiceParts], service: str) -> ServiceParts | None:
        return None if service in self.excluded else parts.get(service)

    def _decide(self, service: str, part: ServiceParts | None) -> None:
        if part is None:
            return
        taken = [c.name for c in part.clusters if c.name in self._owner]
        if taken:
            self.excluded[service] = _lost(f"cluster {taken[0]!r}", self._owner[taken[0]])
            return
        for c in part.clusters:
            self._owner[c.name] = service


@dataclass
class _Emitted:
    """What one accepted virtual host put into the output (scoped layout)."""

    virtual_host: VirtualHost
    route: route_pb2.RouteConfiguration
    scopes: dict[str, Message]


def _bare_hosts(vhost: VirtualHost, port: int) -> list[str]:
    return list(dict.fromkeys(d.removesuffix(f":{port}") for d in vhost.domains))


def _scopable(vhost: VirtualHost, port: int) -> bool:
    """Whether every domain is an exact host, bare and with the port (as routes.domains
    makes them): then the bare hosts of two accepted virtual hosts on a port never
    overlap (the first takes both forms of a host), so their scopes never collide."""
    domains = set(vhost.domains)
    return all(
        exact_host(host) and host in domains and f"{host}:{port}" in domains
        for host in _bare_hosts(vhost, port)
    )


class _VirtualHosts:
    """The virtual hosts on one HTTP port: a name or a domain goes to the first service."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.wanted: dict[str, VirtualHost] = {}
        """Holder of the port -> its virtual host as rendered."""
        self.accepted: dict[str, VirtualHost] = {}
        """Holder -> its virtual host with only the domains it won."""
        self.messages: dict[str, list[str]] = {}
        self.unscopable: set[str] = set()
        """Accepted holders with a host that cannot be a scope key."""
        self._claims: dict[str, set[str]] = {}
        self._owner: dict[str, str] = {}

    @staticmethod
    def _keys(vhost: VirtualHost | None) -> list[str]:
        if vhost is None:
            return []
        return [f"name {vhost.name}", *(f"domain {d}" for d in vhost.domains)]

    def update(self, wanted: Mapping[str, VirtualHost | None]) -> set[str]:
        """Re-decides after the holders in `wanted` changed to these virtual hosts (None:
        none, or no longer a holder); returns the holders re-decided."""
        before = {service: self.wanted.get(service) for service in wanted}
        for service, vhost in wanted.items():
            _unclaim(self._claims, self._keys(before[service]), service)
            _claim(self._claims, self._keys(vhost), service)
            if vhost is None:
                self.wanted.pop(service, None)
            else:
                self.wanted[service] = vhost

        def keys(service: str) -> list[str]:
            return self._keys(self.wanted.get(service)) + self._keys(before.get(service))

        decided = _closure(wanted, self._claims, keys)
        for service in decided:
            self._release(service)
        for service in sorted(decided):
            self._decide(service)
        return decided

    def _release(self, service: str) -> None:
        self.messages.pop(service, None)
        self.unscopable.discard(service)
        vhost = self.accepted.pop(service, None)
        if vhost is not None:
            for key in self._keys(vhost):
                if self._owner.get(key) == service:
                    del self._owner[key]

    def _decide(self, service: str) -> None:
        vhost = self.wanted.get(service)
        if vhost is None:
            return
        number = self.port
        messages: list[str] = []
        winner = self._owner.get(f"name {vhost.name}")
        if winner is not None:
            what = f"virtual host {vhost.name!r} on port {number}"
            self.messages[service] = [_lost(what, winner)]
            return
        fresh = [d for d in vhost.domains if f"domain {d}" not in self._owner]
        # Each host is also rendered as "host:port"; one report per host is enough.
        reported: set[str] = set()
        for d in vhost.domains:
            host = d.removesuffix(f":{number}")
            winner = self._owner.get(f"domain {d}")
            if winner is not None and host not in reported:
                reported.add(host)
                messages.append(_lost(f"domain {host!r} on port {number}", winner))
        if messages:
            self.messages[service] = messages
        if not fresh:
            return
        if len(fresh) != len(vhost.domains):
            trimmed = VirtualHost()
            trimmed.CopyFrom(vhost)
            del trimmed.domains[:]
            trimmed.domains.extend(fresh)
            vhost = trimmed
        self.accepted[service] = vhost
        for key in self._keys(vhost):
            self._owner[key] = service
        if not _scopable(vhost, number):
            self.unscopable.add(service)


PartOf = Callable[[str], ServiceParts | None]
"""The parts of a service that is in (None: gone, or left out for a cluster conflict)."""


class _Port:
    """One port: its kind (HTTP or TCP, the first service's), the services holding it and
    the resources they make of it."""

    def __init__(self, number: int, layout: Layout, out: _Output) -> None:
        self.number = number
        self._layout = layout
        self._out = out
        self._members: dict[str, bool] = {}
        """Services that are in with this port -> whether they want it for HTTP."""
        self._by_kind: dict[bool, set[str]] = {True: set(), False: set()}
        self._first: str | None = None
        self.messages: dict[str, list[str]] = {}
        """Service -> what it lost on this port."""
        self._http = _VirtualHosts(number)
        self._kind: bool | None = None
        self._scoped: bool | None = None
        self._emitted: dict[str, _Emitted] = {}
        self._listener: Message | None = None

    def _is_holder(self, service: str) -> bool:
        return self._kind is not None and self._members.get(service) is self._kind

    def update(self, part_of: PartOf, changed: set[str]) -> set[str]:
        """Re-decides after the services in `changed` changed; returns the services whose
        outcome on this port may differ."""
        first_before = self._first
        for service in changed:
            http = self._members.pop(service, None)
            if http is not None:
                self._by_kind[http].discard(service)
            part = part_of(service)
            if part is not None and self.number in part.ports:
                http = part.ports[self.number] in HTTP_PROTOCOLS
                self._members[service] = http
                self._by_kind[http].add(service)
        self._refresh_first(changed)
        kind = self._members[self._first] if self._first is not None else None
        if kind is not self._kind:
            self._kind = kind
            return self._rebuild(part_of)
        decided = set(changed)
        if self._first != first_before and kind is not None:
            # Losers name the winner: theirs are the only messages a new winner changes.
            decided |= self._by_kind[not kind]
        return self._redo(part_of, decided)

    def _refresh_first(self, changed: set[str]) -> None:
        if self._first is not None and self._first not in self._members:
            self._first = min(self._members, default=None)  # rare: the first one went
        joined = [s for s in changed if s in self._members]
        if joined and (self._first is None or min(joined) < self._first):
            self._first = min(joined)

    def _rebuild(self, part_of: PartOf) -> set[str]:
        """The whole port again: its kind changed, so every outcome on it may have."""
        for emitted in self._emitted.values():
            self._drop(emitted)
        self._emitted = {}
        self._out.drop(ROUTE, route_name(self.number))
        self._out.drop(LISTENER, listener_name(self.number))
        self._listener, self._scoped = None, None
        everyone = set(self.messages) | set(self._members) | set(self._http.wanted)
        self.messages = {}
        self._http = _VirtualHosts(self.number)
        return self._redo(part_of, everyone)

    def _redo(self, part_of: PartOf, decided: set[str]) -> set[str]:
        for service in decided:
            self.messages.pop(service, None)
            part = part_of(service)
            if service in self._members and not self._is_holder(service) and part is not None:
                assert self._first is not None
                what = f"port {self.number} ({part.ports[self.number].name})"
                self.messages[service] = [_lost(what, self._first)]
        if self._kind is True:
            return decided | self._redo_http(part_of, decided)
        if self._kind is False:
            return decided | self._redo_tcp(part_of)
        return decided

    def _redo_http(self, part_of: PartOf, decided: set[str]) -> set[str]:
        wanted: dict[str, VirtualHost | None] = {}
        for service in decided:
            part = part_of(service)
            held = part is not None and self._is_holder(service)
            wanted[service] = part.virtual_hosts.get(self.number) if held and part else None
        redone = self._http.update(wanted)
        for service in redone:
            if self._is_holder(service):
                self.messages.pop(service, None)
                if service in self._http.messages:
                    self.messages[service] = self._http.messages[service]
        self._emit_http(redone)
        return redone

    def _emit_http(self, redone: set[str]) -> None:
        scoped = self._layout.scoped_routes and not self._http.unscopable
        if scoped is not self._scoped or self._listener is None:
            self._scoped = scoped
            self._listener = http_listener(self.number, self._layout, scoped=scoped)
            self._out.put(LISTENER, listener_name(self.number), self._listener)
            redone = set(self._emitted) | set(self._http.accepted)
        if not scoped:
            for emitted in self._emitted.values():
                self._drop(emitted)
            self._emitted = {}
            config = route_configuration(self.number, list(self._http.accepted.values()))
            self._out.put(ROUTE, config.name, config)
            return
        self._out.drop(ROUTE, route_name(self.number))
        # All that goes, then all that comes: a service taking over a virtual host name or
        # a host from another takes over the names of its resources too.
        fresh = [s for s in sorted(redone) if self._unemit(s)]
        for service in fresh:
            self._emit_scoped(service)

    def _unemit(self, service: str) -> bool:
        """Drops what the service put out unless it is still what it should be; True when
        there is something to put out again."""
        vhost = self._http.accepted.get(service)
        before = self._emitted.get(service)
        if before is not None and vhost is not None and before.virtual_host == vhost:
            return False  # the same content: nothing to encode again
        if before is not None:
            self._drop(before)
            del self._emitted[service]
        return vhost is not None

    def _emit_scoped(self, service: str) -> None:
        vhost = self._http.accepted[service]
        config = service_route_configuration(self.number, vhost)
        on_demand = self._layout.on_demand_routes
        scopes = [
            scope(self.number, host, config.name, on_demand=on_demand)
            for host in _bare_hosts(vhost, self.number)
        ]
        emitted = _Emitted(vhost, config, {s.name: s for s in scopes})
        self._emitted[service] = emitted
        self._out.put(ROUTE, config.name, config)
        for name, message in emitted.scopes.items():
            self._out.put(SCOPED_ROUTE, name, message)

    def _drop(self, emitted: _Emitted) -> None:
        self._out.drop(ROUTE, emitted.route.name)
        for name in emitted.scopes:
            self._out.drop(SCOPED_ROUTE, name)

    def _redo_tcp(self, part_of: PartOf) -> set[str]:
        """The whole port again, in name order: a TLS port's SNI names go to the first."""
        holders = sorted(self._by_kind[False])
        owners: dict[str, str] = {}
        chains = []
        for service in holders:
            self.messages.pop(service, None)
            part = part_of(service)
            route = part.tcp_routes.get(self.number) if part is not None else None
            if route is None:
                continue
            for key in route.server_names or [""]:
                if key in owners:
                    what = f"SNI name {key!r}" if key else "the default TCP route"
                    lost = _lost(f"{what} on port {self.number}", owners[key])
                    self.messages.setdefault(service, []).append(lost)
                else:
                    owners[key] = service
            chains.append((route.server_names, route.proxy))
        listener = tcp_listener(self.number, self._layout, chains)
        if listener.filter_chains:
            self._out.put(LISTENER, listener.name, listener)
        else:
            self._out.drop(LISTENER, listener.name)
        return set(holders)


class Assembly:
    """The resources of every service, kept up to date one changed service at a time.

    `update` takes the services that changed (their new parts, or None for a service that
    is gone) and returns what changed in the resources; `resources()` and `conflicts` are
    the whole of it. Parts handed in must not be mutated afterwards.
    """

    def __init__(self, layout: Layout = DEFAULT_LAYOUT) -> None:
        self._layout = layout
        self._parts: dict[str, ServiceParts] = {}
        self._out = _Output()
        self._clusters = _Clusters()
        self._ports: dict[int, _Port] = {}
        self.conflicts: dict[str, list[str]] = {}
        """By service intent name: each part it lost to a service earlier in name order."""

    def resources(self) -> Resources:
        """Every resource, by type URL then name, names sorted."""
        return {t: dict(sorted(by_name.items())) for t, by_name in self._out.by_type.items()}

    def update(self, parts: Mapping[str, ServiceParts | None]) -> Changes:
        before = {name: self._included(name) for name in parts}
        old = {name: self._parts.get(name) for name in parts}
        for name, part in parts.items():
            if part is None:
                self._parts.pop(name, None)
            else:
                self._parts[name] = part
        decided, moved = self._clusters.update(self._parts, old)
        # What each moved service held before: its old parts if it was in, else nothing.
        held = {n: before[n] if n in before else self._flipped_before(n) for n in moved}
        self._place(held)
        redone = set(decided)
        for number, services in self._port_changes(held).items():
            redone |= self._port(number).update(self._included, services)
        for name in redone:
            self._refresh_conflicts(name)
        return self._out.take()

    def _included(self, name: str) -> ServiceParts | None:
        return self._clusters.included(self._parts, name)

    def _flipped_before(self, name: str) -> ServiceParts | None:
        """An unchanged service now in was out before, and the other way round."""
        return None if self._included(name) is not None else self._parts.get(name)

    def _place(self, held: Mapping[str, ServiceParts | None]) -> None:
        """Clusters and load assignments of the services whose inclusion or parts changed:
        all of the ones they held go first, as a new owner may take over a name."""
        for old in held.values():
            for c in old.clusters if old is not None else ():
                self._out.drop(CLUSTER, c.name)
            for a in old.load_assignments if old is not None else ():
                self._out.drop(ENDPOINT, a.cluster_name)
        for name in sorted(held):
            part = self._included(name)
            for c in part.clusters if part is not None else ():
                self._out.put(CLUSTER, c.name, c)
            for a in part.load_assignments if part is not None else ():
                self._out.put(ENDPOINT, a.cluster_name, a)

    def _port_changes(self, held: Mapping[str, ServiceParts | None]) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for name, old in held.items():
            for part in (old, self._included(name)):
                for number in part.ports if part is not None else ():
                    out.setdefault(number, set()).add(name)
        return out

    def _port(self, number: int) -> _Port:
        port = self._ports.get(number)
        if port is None:
            port = self._ports[number] = _Port(number, self._layout, self._out)
        return port

    def _refresh_conflicts(self, name: str) -> None:
        self.conflicts.pop(name, None)
        part = self._parts.get(name)
        if part is None:
            return
        excluded = self._clusters.excluded.get(name)
        lost = (
            [excluded]
            if excluded is not None
            else [
                message
                for number in sorted(part.ports)
                for message in self._port(number).messages.get(name, ())
            ]
        )
        if lost:
            self.conflicts[name] = lost
