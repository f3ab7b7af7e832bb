"""The dns plugin's sink for an authoritative server: RFC 2136 UPDATE and AXFR, TSIG-signed.

BIND 9, Knot and PowerDNS all accept dynamic updates signed with a shared TSIG key; that
is the one interface they share, so the plugin writes through it and reads back with a
zone transfer. What makes this sink safe to run next to other writers is that every change
carries RFC 2136 prerequisites built from what was read (tc.plugins.dns.records.Change): the
server applies a message only if the zone still holds exactly that, atomically.

Speed comes from batching: one UPDATE message carries up to `batch_size` changes, and a
whole read or write uses one TCP connection (dnspython's asyncio socket). Keyed reads are
pipelined over it, many queries in flight and answers matched by id, which dnspython's
one-shot `dns.asyncquery.tcp` cannot do; so this module frames messages itself, and
tc.plugins.dns.sinks.rfc2136_wire writes and reads them (with dns.tsig signing and
verifying), several times faster than dnspython's message objects (measured there).

The TSIG secret is a SecretStr in the settings and a key whose repr hides it at run time:
it must never reach a log line, an error message or an intent status.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import ipaddress
import itertools
import logging
import os
import re
import secrets
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import dns.asyncbackend
import dns.exception
import dns.flags
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.tsig
import pydantic

from tc.plugins.dns.records import Change, RecordKey, RecordSet, absolute
from tc.plugins.dns.sinks import rfc2136_wire as wire
from tc.plugins.dns.sinks.base import PrerequisiteFailed, SinkError
from tc.plugins.dns.sinks.settings import SinkSettings

log = logging.getLogger(__name__)

Algorithm = Literal["hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"]
ALGORITHMS: dict[str, dns.name.Name] = {
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([-A-Za-z0-9_]{0,62})(\.[A-Za-z0-9_][-A-Za-z0-9_]{0,62})*\.?$"
)
_PIPELINE_DEPTH = 128
"""Keyed-read queries in flight on one connection: enough to hide the round trip, few
enough that neither side's socket buffers fill while the other is not reading."""


# -- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """One server to talk to: an IP address or a host name, and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def family(self) -> int:
        """The address family to connect with (any, for a name the resolver looks up)."""
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            return socket.AF_UNSPEC
        return socket.AF_INET6 if address.version == 6 else socket.AF_INET


def parse_server(text: str) -> Server:
    """A server from `host:port` or `[v6-address]:port`, the port defaulting to 53;
    ValueError when it is neither."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"{text!r}: an IPv6 address opened with '[' needs a ']'")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected ':<port>' after ']'")
        port_text = rest[1:] if rest else "53"
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address") from None
    else:
        if text.count(":") > 1:
            raise ValueError(f"{text!r}: write an IPv6 address in brackets, as '[::1]:53'")
        host, sep, port_text = text.partition(":")
        if not sep:
            port_text = "53"
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if not _HOSTNAME.match(host):
                raise ValueError(
                    f"{text!r}: {host!r} is neither an IP address nor a host name"
                ) from None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return Server(host, int(port_text))


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key as a BIND key file or the settings give it."""

    name: str
    algorithm: str
    secret: pydantic.SecretStr


# Quoted strings first, so a "//" inside a base64 secret is not taken for a comment.
_COMMENT = re.compile(r'"[^"]*"|/\*.*?\*/|//[^\n]*|#[^\n]*', re.S)
_KEY_BLOCK = re.compile(r'\bkey\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;', re.S)
_KEY_ALGORITHM = re.compile(r'\balgorithm\s+"?([-\w]+)"?\s*;')
_KEY_SECRET = re.compile(r'\bsecret\s+"([^"]*)"\s*;')


def parse_key_file(text: str) -> list[TsigKey]:
    """The keys of a BIND key file such as `tsig-keygen` writes (`key "name" { algorithm
    hmac-sha256; secret "..."; };`); ValueError, never quoting a secret, when it holds none
    or one is malformed."""
    keys: list[TsigKey] = []
    uncommented = _COMMENT.sub(lambda m: m[0] if m[0].startswith('"') else "", text)
    for match in _KEY_BLOCK.finditer(uncommented):
        key_name, body = match[1].rstrip(".").lower(), match[2]
        algorithm = _KEY_ALGORITHM.search(body)
        secret = _KEY_SECRET.search(body)
        if algorithm is None or secret is None:
            raise ValueError(f"key {key_name!r} lacks an algorithm or a secret")
        if algorithm[1].lower() not in ALGORITHMS:
            raise ValueError(
                f"key {key_name!r}: algorithm {algorithm[1]} is not one of {', '.join(ALGORITHMS)}"
            )
        try:
            _check_secret(secret[1])
        except ValueError as exc:
            raise ValueError(f"key {key_name!r}: {exc}") from None
        keys.append(TsigKey(key_name, algorithm[1].lower(), pydantic.SecretStr(secret[1])))
    if not keys:
        raise ValueError('no `key "<name>" { algorithm ...; secret "..."; };` in it')
    return keys


def _select_key(keys: Sequence[TsigKey], name: str | None) -> TsigKey:
    if name is None:
        if len(keys) > 1:
            raise ValueError(
                f"key_file holds {len(keys)} keys ({', '.join(k.name for k in keys)}): "
                "set key_name to say which"
            )
        return keys[0]
    for key in keys:
        if key.name == name:
            return key
    raise ValueError(
        f"key_file holds no key named {name!r} (it has {', '.join(k.name for k in keys)})"
    )


def _load_keys(path: str) -> list[TsigKey]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return parse_key_file(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _check_secret(secret: str) -> None:
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the secret is not valid base64") from None
    if not raw:
        raise ValueError("the secret is empty")


class Rfc2136Settings(SinkSettings):
    """Where updates go and the TSIG key that signs them (`key_secret`, or `key_file` as
    written by `tsig-keygen`, read once at start-up)."""

    servers: tuple[str, ...] = pydantic.Field(min_length=1)
    """Each `host:port` (IPv6 as `[::1]:53`), tried in order: the next one when one cannot
    be reached. Usually the primary first, then secondaries that forward updates."""
    key_name: str | None = None
    """The TSIG key's name; taken from key_file when that is given."""
    key_algorithm: Algorithm = "hmac-sha256"
    key_secret: pydantic.SecretStr | None = None
    """Base64, as in a BIND key statement. Never logged or shown."""
    key_file: str | None = None
    timeout: float = pydantic.Field(default=5.0, gt=0, le=3600)
    """Seconds for connecting and for each message to arrive."""
    batch_size: int = pydantic.Field(default=100, ge=1, le=10_000)
    """The most changes one UPDATE message carries; each message is atomic. A batch that
    would not fit in a DNS message (64 KiB) is split further."""
    axfr: bool = True
    """Read whole zones with AXFR, the only way to list a zone. Turn it off for a server
    that refuses transfers: whole-zone reads then fail with Invalid instead of asking."""

    @pydantic.field_validator("servers", mode="before")
    @classmethod
    def _servers_list(cls, value: object) -> object:
        # YAML and JSON give lists; the model is frozen and holds a tuple.
        return tuple(value) if isinstance(value, list) else value

    @pydantic.field_validator("servers")
    @classmethod
    def _servers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(parse_server(s)) for s in value)

    @pydantic.field_validator("key_name")
    @classmethod
    def _key_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            name = dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"not a valid key name: {exc}") from None
        return name.to_text(omit_final_dot=True).lower()

    @pydantic.field_validator("key_secret")
    @classmethod
    def _key_secret(cls, value: pydantic.SecretStr | None) -> pydantic.SecretStr | None:
        if value is not None:
            _check_secret(value.get_secret_value())
        return value

    @pydantic.field_validator("key_file")
    @classmethod
    def _key_file(cls, value: str | None) -> str | None:
        if value is not None:
            _load_keys(value)  # a missing or malformed file stops start-up, named as such
        return value

    @pydantic.model_validator(mode="after")
    def _one_key(self) -> Rfc2136Settings:
        if (self.key_secret is None) == (self.key_file is None):
            raise ValueError("give exactly one of key_secret and key_file")
        if self.key_secret is not None and self.key_name is None:
            raise ValueError("key_name is required with key_secret")
        if self.key_file is not None:
            key = self.tsig_key()
            if "key_algorithm" in self.model_fields_set and key.algorithm != self.key_algorithm:
                raise ValueError(
                    f"key_algorithm is {self.key_algorithm} but key_file says {key.algorithm}"
                )
        return self

    def server_list(self) -> list[Server]:
        return [parse_server(s) for s in self.servers]

    def tsig_key(self) -> TsigKey:
        """The key to sign with (reading key_file, when that is where it is)."""
        if self.key_file is not None:
            return _select_key(_load_keys(self.key_file), self.key_name)
        assert self.key_name is not None and self.key_secret is not None
        return TsigKey(self.key_name, self.key_algorithm, self.key_secret)


class _Key(dns.tsig.Key):
    """dnspython's key, whose repr would print the secret, with the secret left out."""

    def __repr__(self) -> str:
        return f"<TSIG key {self.name} {self.algorithm}>"

    __str__ = __repr__


# -- the wire ------------------------------------------------------------------------------


class _Malformed(Exception):
    """An answer that is not a well-formed reply to what was asked: a server to skip."""


_TRANSPORT_ERRORS = (
    OSError,  # refused, reset, unreachable, and TimeoutError
    EOFError,
    dns.exception.Timeout,
    # A server that answers with something that is not DNS, or unsigned: not one to use.
    dns.exception.FormError,
    wire.WireError,
    _Malformed,
    struct.error,
)
_AUTH_ERRORS = (
    dns.tsig.PeerError,  # the server's BADKEY, BADSIG, BADTIME
    dns.tsig.BadSignature,
    dns.tsig.BadKey,
    dns.tsig.BadAlgorithm,
    dns.tsig.BadTime,
)


class _Connection:
    """One TCP connection to a server: length-prefixed DNS messages both ways (RFC 7766)."""

    def __init__(self, server: Server, sock: Any, timeout: float):
        self.server = server
        self._sock = sock
        self._timeout = timeout
        self._buffer = bytearray()

    @classmethod
    async def open(cls, server: Server, timeout: float) -> _Connection:
        backend = dns.asyncbackend.get_backend("asyncio")
        # dnspython's asyncio socket: a connection in its terms, with its timeout handling.
        sock = await backend.make_socket(  # type: ignore[no-untyped-call]
            server.family, socket.SOCK_STREAM, 0, None, (server.host, server.port), timeout
        )
        return cls(server, sock, timeout)

    async def send(self, wire: bytes) -> None:
        """Sends messages already framed (each prefixed with its length)."""
        await self._sock.sendall(wire, self._timeout)

    async def receive(self) -> bytes:
        """The next message's wire form. Reads in large chunks: a transfer of thousands of
        records arrives as a few big messages, and read calls cost more than copying."""
        while True:
            if len(self._buffer) >= 2:
                (length,) = struct.unpack_from("!H", self._buffer)
                if len(self._buffer) >= 2 + length:
                    wire = bytes(self._buffer[2 : 2 + length])
                    del self._buffer[: 2 + length]
                    return wire
            chunk = await self._sock.recv(65536, self._timeout)
            if not chunk:
                raise EOFError(f"{self.server} closed the connection")
            self._buffer += chunk

    async def request(self, message: bytes) -> bytes:
        """Sends one message and returns the wire form of the answer with the same id."""
        await self.send(struct.pack("!H", len(message)) + message)
        while True:
            answer = await self.receive()
            if answer[:2] == message[:2]:
                return answer
            # Otherwise a late answer to something given up on: not ours.

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            await self._sock.close()


_T = TypeVar("_T")


class _Session:
    """The servers of one read or write, in order, behind one connection at a time: a
    server that cannot be reached (or stops answering) hands over to the next, for the
    rest of the operation."""

    def __init__(self, servers: Sequence[Server], timeout: float, zone: str) -> None:
        self._servers = servers
        self._timeout = timeout
        self._zone = zone
        self._index = 0
        self._connection: _Connection | None = None
        self._failures: list[str] = []

    async def run(self, attempt: Callable[[_Connection], Awaitable[_T]], what: str) -> _T:
        """`attempt` on the current server's connection, then on each following server
        after a transport failure; `attempt` builds (and so signs) its messages afresh each
        time. SinkError Unreachable when no server is left."""
        while True:
            if self._index >= len(self._servers):
                raise SinkError(
                    f"zone {self._zone}: {what} failed: no server could be reached "
                    f"({'; '.join(self._failures)})",
                    reason="Unreachable",
                    retryable=True,
                )
            server = self._servers[self._index]
            try:
                if self._connection is None:
                    self._connection = await _Connection.open(server, self._timeout)
                return await attempt(self._connection)
            except _TRANSPORT_ERRORS as exc:
                await self._fail(server, exc, what)

    async def _fail(self, server: Server, exc: BaseException, what: str) -> None:
        detail = _describe(exc, self._timeout)
        self._failures.append(f"{server}: {detail}")
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        self._index += 1
        following = self._servers[self._index] if self._index < len(self._servers) else None
        log.warning(
            "dns rfc2136: %s of zone %s on %s failed (%s); %s",
            what,
            self._zone,
            server,
            detail,
            f"failing over to {following}" if following else "no server left",
            extra={
                "zone": self._zone,
                "server": str(server),
                "next_server": str(following) if following else None,
                "error": detail,
            },
        )

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, dns.exception.Timeout | TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, OSError) and exc.errno:
        # asyncio's own strerror ("Connect call failed (...)") says less than the errno.
        return os.strerror(exc.errno).lower()
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# -- the sink ------------------------------------------------------------------------------

_PREREQUISITE_RCODES = {
    dns.rcode.NXRRSET: "a record set asserted present is absent or holds other values",
    dns.rcode.YXRRSET: "a record set asserted absent exists",
    dns.rcode.NXDOMAIN: "a name asserted present does not exist",
    dns.rcode.YXDOMAIN: "a name asserted absent exists",
}


class Rfc2136Sink:
    """Reads zones with AXFR (or per-key queries) and writes Changes as RFC 2136 UPDATE
    messages with prerequisites, TSIG-signed, over TCP, failing over between servers."""

    def __init__(self, settings: Rfc2136Settings) -> None:
        self._settings = settings
        self._servers = settings.server_list()
        key = settings.tsig_key()
        self._key_name = key.name
        self._key = _Key(
            key.name, key.secret.get_secret_value(), ALGORITHMS.get(key.algorithm, key.algorithm)
        )
        self.updates_sent = 0
        """UPDATE messages the server accepted, over the sink's life (for tests and metrics)."""

    def __repr__(self) -> str:
        servers = ", ".join(str(s) for s in self._servers)
        return f"Rfc2136Sink(servers=[{servers}], key_name={self._key_name!r})"

    # -- reading ---------------------------------------------------------------------------

    async def read(
        self, zone: str, keys: Collection[RecordKey] | None = None
    ) -> dict[RecordKey, RecordSet]:
        zone = absolute(zone)
        if keys is None and not self._settings.axfr:
            raise SinkError(
                f"zone {zone}: reading a whole zone needs AXFR, which is turned off "
                "(sink setting axfr: false)",
                reason="Invalid",
                retryable=False,
            )
        session = _Session(self._servers, self._settings.timeout, zone)
        try:
            if keys is None:
                return await session.run(lambda c: self._axfr(c, zone), "AXFR")
            # A key outside the zone is not in it, whatever else the server serves.
            suffix = "." + zone
            wanted = [k for k in dict.fromkeys(keys) if k.name == zone or k.name.endswith(suffix)]
            return await session.run(lambda c: self._query(c, zone, wanted), "read")
        finally:
            await session.close()

    async def _axfr(self, connection: _Connection, zone: str) -> dict[RecordKey, RecordSet]:
        message_id = secrets.randbelow(65536)
        query, mac = wire.transfer_query(zone, message_id, self._key)
        await connection.send(struct.pack("!H", len(query)) + query)
        transfer = wire.Transfer(zone, self._key, mac, message_id)
        while not transfer.done:
            data = await connection.receive()
            try:
                rcode = transfer.feed(data)
            except _AUTH_ERRORS as exc:
                raise self._not_authorized(connection.server, zone, exc) from None
            if rcode != dns.rcode.NOERROR:
                raise self._rcode_error(
                    connection.server, zone, dns.rcode.Rcode(rcode), "AXFR", reading=True
                )
        return transfer.record_sets()

    async def _query(
        self, connection: _Connection, zone: str, keys: Sequence[RecordKey]
    ) -> dict[RecordKey, RecordSet]:
        """Each key's record set, queried over one connection with several queries in
        flight, after the zone's SOA, which says whether the server serves the zone at all."""
        questions: list[tuple[str, str, RecordKey | None]] = [(zone, "SOA", None)]
        questions += [(k.name, k.type, k) for k in keys]
        pending: dict[int, tuple[bytes, str, str, RecordKey | None]] = {}
        ids = itertools.count(1)
        todo = iter(questions)
        out: dict[RecordKey, RecordSet] = {}

        async def send_more() -> None:
            frames = []
            for name, rtype, key in itertools.islice(todo, _PIPELINE_DEPTH - len(pending)):
                # Ids unique on this connection, so pipelined answers cannot be confused.
                message_id = next(ids) & 0xFFFF
                query, mac = wire.query(message_id, name, rtype, self._key)
                frames.append(struct.pack("!H", len(query)) + query)
                pending[message_id] = (mac, name, rtype, key)
            if frames:
                await connection.send(b"".join(frames))

        await send_more()
        while pending:
            data = await connection.receive()
            answer = wire.parse(data)
            entry = pending.pop(answer.id, None)
            if entry is None or answer.flags & 0x7800:  # not ours, or not a QUERY answer
                raise _Malformed
            mac, name, rtype, key = entry
            self._check_signed(connection.server, zone, data, answer, mac)
            if answer.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or (
                key is None and answer.rcode != dns.rcode.NOERROR
            ):
                what = "read" if key is None else f"read of {key}"
                raise self._rcode_error(
                    connection.server, zone, dns.rcode.Rcode(answer.rcode), what, reading=True
                )
            # Not authoritative for a name: a referral to a child zone, so not this zone's.
            authoritative = bool(answer.flags & dns.flags.AA)
            found = wire.record_set(data, answer.answer, name, rtype)
            if key is None:
                if not authoritative or found is None:
                    raise SinkError(
                        f"zone {zone}: server {connection.server} is not authoritative for "
                        f"zone {zone}",
                        reason="UnknownZone",
                        retryable=False,
                    )
            elif found is not None and authoritative:
                out[key] = found
            if len(pending) <= _PIPELINE_DEPTH // 2:
                await send_more()
        return out

    def _check_signed(
        self, server: Server, zone: str, data: bytes, answer: wire.Answer, mac: bytes
    ) -> None:
        """Verifies an answer's TSIG: NotAuthorized when the server refused our key or the
        signature is wrong, _Malformed when an answer that must be signed is not."""
        if answer.tsig_at < 0:
            if wire.trusted_unsigned(answer):
                return
            raise _Malformed("an unsigned answer to a signed request")
        try:
            wire.verify(data, answer, self._key, mac)
        except _AUTH_ERRORS as exc:
            raise self._not_authorized(server, zone, exc) from None

    # -- writing ---------------------------------------------------------------------------

    async def write(self, zone: str, changes: Sequence[Change]) -> None:
        zone = absolute(zone)
        if not changes:
            return
        size = self._settings.batch_size
        batches = [list(changes[i : i + size]) for i in range(0, len(changes), size)]
        session = _Session(self._servers, self._settings.timeout, zone)
        started = time.monotonic()
        sent = 0
        try:
            while batches:
                batch = batches.pop(0)
                attempt = functools.partial(
                    self._update,
                    zone=zone,
                    batch=batch,
                    number=sent + 1,
                    of=sent + 1 + len(batches),
                )
                try:
                    await session.run(attempt, "update")
                except dns.exception.TooBig:
                    if len(batch) == 1:
                        raise SinkError(
                            f"zone {zone}: the change {batch[0]} does not fit in one DNS "
                            "message (64 KiB)",
                            reason="Invalid",
                            retryable=False,
                        ) from None
                    # Long TXT values: this many changes overflow a message; halve it.
                    half = len(batch) // 2
                    batches[:0] = [batch[:half], batch[half:]]
                    continue
                sent += 1
        finally:
            await session.close()
        log.debug(
            "dns rfc2136: wrote %d changes to zone %s in %d messages (%.3fs)",
            len(changes),
            zone,
            sent,
            time.monotonic() - started,
            extra={"zone": zone},
        )

    async def _update(
        self, connection: _Connection, zone: str, batch: Sequence[Change], number: int, of: int
    ) -> None:
        # Built and signed per attempt: a failover resends with a fresh TSIG time.
        try:
            unsigned = wire.UpdateEncoder(zone).encode(secrets.randbelow(65536), batch)
        except wire.InvalidChange as exc:
            raise SinkError(f"zone {zone}: {exc}", reason="Invalid", retryable=False) from None
        signed, mac = wire.sign(unsigned, self._key)
        data = await connection.request(signed)
        answer = wire.parse(data)
        if dns.opcode.from_flags(answer.flags) != dns.opcode.UPDATE:
            raise _Malformed("not an answer to an UPDATE")
        self._check_signed(connection.server, zone, data, answer, mac)
        rcode = dns.rcode.Rcode(answer.rcode)
        if rcode == dns.rcode.NOERROR:
            self.updates_sent += 1
            return
        plural = "s" if len(batch) != 1 else ""
        where = f"update {number} of {of} ({len(batch)} change{plural}, from {batch[0]})"
        if rcode in _PREREQUISITE_RCODES:
            done = f"; updates 1-{number - 1} were applied" if number > 1 else ""
            raise PrerequisiteFailed(
                f"zone {zone}: {where} was not applied: the zone changed since it was read "
                f"({dns.rcode.to_text(rcode)}: {_PREREQUISITE_RCODES[rcode]}){done}"
            )
        raise self._rcode_error(connection.server, zone, rcode, where, reading=False)

    # -- errors ----------------------------------------------------------------------------

    def _not_authorized(self, server: Server, zone: str, exc: BaseException) -> SinkError:
        refusals: dict[type[BaseException], str] = {
            dns.tsig.PeerBadKey: "BADKEY: it knows no key of this name and algorithm",
            dns.tsig.PeerBadSignature: "BADSIG: its secret for the key differs",
            dns.tsig.PeerBadTime: "BADTIME: its clock and ours differ by more than 5 minutes",
        }
        refusal = refusals.get(type(exc))
        if refusal is not None:
            message = f"server {server} refused the TSIG key {self._key_name!r} ({refusal})"
        else:
            # Our check of the server's signature failed: the same mismatch, seen from here.
            message = (
                f"the answer of server {server} failed verification with the TSIG key "
                f"{self._key_name!r} ({type(exc).__name__}: a different secret or "
                "algorithm, or a clock more than 5 minutes off)"
            )
        return SinkError(f"zone {zone}: {message}", reason="NotAuthorized", retryable=False)

    def _rcode_error(
        self, server: Server, zone: str, rcode: dns.rcode.Rcode, what: str, *, reading: bool
    ) -> SinkError:
        """The error an answer's rcode (other than success or a failed prerequisite) means."""
        text = dns.rcode.to_text(rcode)
        if rcode == dns.rcode.NOTAUTH or (
            reading and rcode in (dns.rcode.NOTZONE, dns.rcode.REFUSED)
        ):
            transfers = (
                f", or does not allow transfers with key {self._key_name!r}"
                if what == "AXFR" and rcode == dns.rcode.REFUSED
                else ""
            )
            return SinkError(
                f"zone {zone}: server {server} answered {text} to the {what}: it does not "
                f"serve zone {zone}{transfers}",
                reason="UnknownZone",
                retryable=False,
            )
        if rcode in (dns.rcode.REFUSED, dns.rcode.NOTIMP):
            return SinkError(
                f"zone {zone}: server {server} answered {text} to the {what} signed with key "
                f"{self._key_name!r} (does its update-policy grant the key these names?)",
                reason="Refused",
                retryable=False,
            )
        if rcode in (dns.rcode.NOTZONE, dns.rcode.FORMERR):
            return SinkError(
                f"zone {zone}: server {server} rejected the {what} as malformed ({text})",
                reason="Invalid",
                retryable=False,
            )
        return SinkError(
            f"zone {zone}: server {server} failed the {what} ({text})",
            reason="ServerFailure",
            retryable=True,
        )

    async def close(self) -> None:
        """Nothing to release: each read or write opens and closes its own connection."""
