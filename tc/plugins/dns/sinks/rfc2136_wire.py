"""The wire forms the RFC 2136 sink sends and reads most: UPDATE messages and AXFR answers.

dnspython builds and parses every DNS message correctly, but through an object per name,
record and record set: measured on 10,000 changes (20,000 record sets with their ownership
records) it spent 1.9 s of Python building and rendering the UPDATE messages that BIND
applies in 0.3 s, and 0.9 s parsing an AXFR that `dig` prints in 0.06 s. The records the
sink handles are few in kind, so this module writes and reads their wire form directly
(the same write then takes 0.37 s, `nsupdate` 0.40 s, and the AXFR 0.13 s), leaving to
dnspython what is rare (names and values that need escaping, other record types) and
everything about TSIG (signing and verification use dns.tsig).

Both directions are checked against dnspython in tests/component/test_dns_rfc2136.py:
the messages built here parse, with dnspython, into exactly the UpdateMessage its own API
builds, and a zone read here equals dnspython's reading of a transfer of the same zone.
"""

from __future__ import annotations

import functools
import re
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import dns.exception
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig

from tc.plugins.dns.records import MANAGED_TYPES, Change, RecordKey, RecordSet, absolute

_IN = dns.rdataclass.IN
_NONE = dns.rdataclass.NONE
_ANY = dns.rdataclass.ANY
_SOA = dns.rdatatype.SOA
_TSIG = dns.rdatatype.TSIG
_A = dns.rdatatype.A
_TXT = dns.rdatatype.TXT
_TYPES: dict[str, int] = {t: int(dns.rdatatype.from_text(t)) for t in MANAGED_TYPES}
_TYPE_NAMES = {v: k for k, v in _TYPES.items()}
_UPDATE_FLAGS = dns.opcode.to_flags(dns.opcode.UPDATE)
_ZONE_POINTER = b"\xc0\x0c"  # the zone's name, right after the 12-byte header
_MAX_POINTER = 0x3FFF

# Bytes that dnspython prints as themselves: anything else takes its slow, exact path.
_PLAIN_LABEL = re.compile(rb"^[\x21-\x7e]+$")
_LABEL_ESCAPED = re.compile(rb'["().;\\@$]')
_PLAIN_TXT = re.compile(rb"^[\x20-\x21\x23-\x5b\x5d-\x7e]*$")


class WireError(ValueError):
    """A message that is not what it should be (not DNS, truncated, not ours)."""


class InvalidChange(ValueError):
    """A change that cannot be put on the wire: a name outside the zone it is sent to, or
    a value that is not valid for its type."""


# -- UPDATE ----------------------------------------------------------------------------------


def rdata_wire(rtype: str, value: str) -> bytes:
    """The wire form of one value (in canonical presentation form) of type `rtype`;
    InvalidChange when it is not valid for the type."""
    try:
        return _rdata_wire(rtype, value)
    except (OSError, ValueError, dns.exception.DNSException) as exc:
        raise InvalidChange(f"{rtype} value {value!r} is not valid: {exc}") from None


@functools.lru_cache(maxsize=65536)
def _rdata_wire(rtype: str, value: str) -> bytes:
    # Cached: ownership TXT values and addresses recur across syncs of the same zone.
    if rtype == "A":
        return socket.inet_pton(socket.AF_INET, value)
    if rtype == "AAAA":
        return socket.inet_pton(socket.AF_INET6, value)
    if rtype == "TXT" and len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1].encode()
        if len(inner) <= 255 and _PLAIN_TXT.match(inner):
            return bytes((len(inner),)) + inner
    rdata = dns.rdata.from_text(_IN, rtype, value, origin=dns.name.root, relativize=False)
    return _wire(rdata)


def _wire(obj: dns.rdata.Rdata | dns.name.Name) -> bytes:
    wire = obj.to_wire()
    assert wire is not None  # to_wire returns bytes when given no file to write to
    return wire


class UpdateEncoder:
    """Builds the UPDATE messages of one zone: each record's name written once, later
    mentions of it (and the zone suffix of all) compressed to pointers."""

    def __init__(self, zone: str) -> None:
        self.zone = absolute(zone)
        self._origin = dns.name.from_text(self.zone)
        self._zone_wire = _wire(self._origin)
        self._suffix = "." + self.zone

    def _relative_labels(self, name: str) -> bytes:
        """`name` (in the zone, not its apex) as labels followed by a pointer to the zone."""
        if "\\" not in name and name.endswith(self._suffix):
            labels = name[: -len(self._suffix)].split(".")
            out = bytearray()
            for label in labels:
                raw = label.encode()
                if not 0 < len(raw) < 64 or not raw.isascii():
                    break
                out.append(len(raw))
                out += raw
            else:
                if len(out) + len(self._zone_wire) <= 255:
                    return bytes(out) + _ZONE_POINTER
        # Escapes, odd lengths, or not in the zone: dnspython says what the name is.
        parsed = dns.name.from_text(name)
        if not parsed.is_subdomain(self._origin):
            raise InvalidChange(f"{name} is not in zone {self.zone}")
        relative = parsed.relativize(self._origin)
        return b"".join(bytes((len(label),)) + label for label in relative.labels) + _ZONE_POINTER

    def encode(self, message_id: int, batch: Sequence[Change]) -> bytes:
        """The UPDATE for `batch`, unsigned: every change's prerequisites (its `previous`
        values, or the record set's absence), then its updates (delete the record set, add
        the new values), each for the record and its ownership record. A change whose
        record has no values (an orphaned ownership record) touches only the latter.

        dns.exception.TooBig when it would exceed 65535 bytes."""
        out = bytearray(12)
        out += self._zone_wire
        out += struct.pack("!HH", _SOA, _IN)
        offsets: dict[str, int] = {}

        def name(text: str) -> bytes:
            if text == self.zone:
                return _ZONE_POINTER
            at = offsets.get(text)
            if at is not None:
                return struct.pack("!H", 0xC000 | at)
            if len(out) <= _MAX_POINTER:  # a pointer has 14 bits of offset
                offsets[text] = len(out)
            return self._relative_labels(text)

        def rr(owner: str, rtype: str, rdclass: int, ttl: int, rdata: bytes = b"") -> None:
            out.extend(name(owner))
            code = _TYPES.get(rtype) or int(dns.rdatatype.from_text(rtype))
            out.extend(struct.pack("!HHIH", code, rdclass, ttl, len(rdata)))
            out.extend(rdata)

        prerequisites = 0
        updates = 0
        parts_of: list[list[RecordSet]] = []
        for change in batch:
            parts: list[tuple[RecordSet, RecordSet | None]] = []
            if change.record.values:
                parts.append((change.record, change.previous))
            parts.append((change.owner_record, change.previous_owner))
            for record, previous in parts:
                if previous is None:
                    rr(record.name, record.type, _NONE, 0)
                    prerequisites += 1
                else:
                    for value in previous.values:
                        rr(previous.name, previous.type, _IN, 0, rdata_wire(previous.type, value))
                        prerequisites += 1
            parts_of.append([record for record, _ in parts])
        for change, records in zip(batch, parts_of, strict=True):
            for record in records:
                rr(record.name, record.type, _ANY, 0)
                updates += 1
                if change.action != "delete":
                    for value in record.values:
                        rr(
                            record.name,
                            record.type,
                            _IN,
                            record.ttl,
                            rdata_wire(record.type, value),
                        )
                        updates += 1
        # Room for the TSIG record that sign() appends.
        if len(out) > 65535 - 512 or prerequisites > 65535 or updates > 65535:
            raise dns.exception.TooBig
        struct.pack_into("!HHHHHH", out, 0, message_id, _UPDATE_FLAGS, 1, prerequisites, updates, 0)
        return bytes(out)


def sign(wire: bytes, key: dns.tsig.Key, *, fudge: int = 300) -> tuple[bytes, bytes]:
    """`wire` with a TSIG record signing it now, and the MAC (the answer's `request_mac`).

    The same steps as dnspython's renderer, on a message it did not render."""
    (message_id,) = struct.unpack_from("!H", wire)
    unsigned = dns.rdtypes.ANY.TSIG.TSIG(  # type: ignore[no-untyped-call]
        _ANY, _TSIG, key.algorithm, 0, fudge, b"", message_id, 0, b""
    )
    tsig, _ = dns.tsig.sign(  # type: ignore[no-untyped-call]
        wire, key, unsigned, int(time.time()), b""
    )
    rdata = _wire(tsig)
    record = _wire(key.name) + struct.pack("!HHIH", _TSIG, _ANY, 0, len(rdata)) + rdata
    (additional,) = struct.unpack_from("!H", wire, 10)
    signed = wire[:10] + struct.pack("!H", additional + 1) + wire[12:] + record
    if len(signed) > 65535:
        raise dns.exception.TooBig
    return signed, tsig.mac


# -- answers ---------------------------------------------------------------------------------


class Record(NamedTuple):
    """One record of an answer section, its data left in the message."""

    owner: str
    """Presentation form with the final dot, as dnspython's Name.to_text writes it."""
    rtype: int
    rdclass: int
    ttl: int
    at: int
    rdlen: int


@dataclass
class Answer:
    """A response, read as far as the sink needs: header, answer records, where its TSIG
    record starts (-1: none)."""

    id: int
    flags: int
    rcode: int
    answer: list[Record]
    tsig_at: int


def parse(wire: bytes) -> Answer:
    """Reads a response; WireError when it is not a well-formed DNS message."""
    if len(wire) < 12:
        raise WireError("a message shorter than its header")
    mid, flags, qdcount, ancount, nscount, arcount = struct.unpack_from("!HHHHHH", wire)
    if not flags & 0x8000:
        raise WireError("a query where an answer was expected")
    names: dict[int, tuple[str, int]] = {}
    offset = 12
    for _ in range(qdcount):
        _, offset = _read_name(wire, offset, names)
        offset += 4
    answer: list[Record] = []
    tsig_at = -1
    total = ancount + nscount + arcount
    size = len(wire)
    for index in range(total):
        start = offset
        owner, offset = _read_name(wire, offset, names)
        if offset + 10 > size:
            raise WireError("a record runs past the end of the message")
        rtype, rdclass, ttl, rdlen = struct.unpack_from("!HHIH", wire, offset)
        offset += 10
        if offset + rdlen > size:
            raise WireError("a record runs past the end of the message")
        if rtype == _TSIG:
            if index != total - 1:
                raise WireError("a TSIG record that is not the message's last")
            tsig_at = start
        elif index < ancount:
            answer.append(Record(owner, rtype, rdclass, ttl, offset, rdlen))
        offset += rdlen
    if offset != size:
        raise WireError("junk after the message's last record")
    rcode = int(dns.rcode.from_flags(flags, 0))
    return Answer(mid, flags, rcode, answer, tsig_at)


def verify(
    wire: bytes,
    answer: Answer,
    key: dns.tsig.Key,
    request_mac: bytes,
    ctx: Any = None,
    *,
    multi: bool = False,
) -> Any:
    """Checks the TSIG of `answer` (the parse of `wire`); dns.tsig errors when it does not
    verify (including the server's BADKEY, BADSIG, BADTIME). In a transfer (`multi`), each
    signature chains to the one before: pass as `ctx` what the previous call returned."""
    owner, used = dns.name.from_wire(wire, answer.tsig_at)
    at = answer.tsig_at + used
    _, _, _, rdlen = struct.unpack_from("!HHIH", wire, at)
    rdata = dns.rdata.from_wire(_ANY, _TSIG, wire, at + 10, rdlen)
    return dns.tsig.validate(  # type: ignore[no-untyped-call]
        wire, key, owner, rdata, int(time.time()), request_mac, answer.tsig_at, ctx, multi
    )


def trusted_unsigned(answer: Answer) -> bool:
    """Whether an answer without TSIG may still be acted on: a refusal or failure (from a
    server that did not get as far as the key, or has no TSIG) stops the read either way,
    where an unsigned "no such record" or record could be anyone's."""
    return answer.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)


def query(message_id: int, name: str, rtype: str, key: dns.tsig.Key) -> tuple[bytes, bytes]:
    """A signed query (recursion not desired: the server is authoritative) and its MAC."""
    qname = _wire(dns.name.from_text(name))
    header = struct.pack("!HHHHHH", message_id, 0, 1, 0, 0, 0)
    return sign(header + qname + struct.pack("!HH", dns.rdatatype.from_text(rtype), _IN), key)


def record_set(wire: bytes, records: Sequence[Record], name: str, rtype: str) -> RecordSet | None:
    """The record set `name`/`rtype` among `records` (None when absent), as
    RecordSet.from_rdataset would make it."""
    code = _TYPES.get(rtype) or int(dns.rdatatype.from_text(rtype))
    values: set[str] = set()
    ttl = -1
    for record in records:
        if record.rtype == code and record.rdclass == _IN and absolute(record.owner) == name:
            values.add(value_text(wire, record))
            ttl = record.ttl if ttl < 0 else min(ttl, record.ttl)
    return RecordSet(name, rtype, ttl, tuple(sorted(values))) if values else None


# -- AXFR ------------------------------------------------------------------------------------


def transfer_query(zone: str, message_id: int, key: dns.tsig.Key) -> tuple[bytes, bytes]:
    """The signed AXFR query for `zone` and its MAC."""
    origin = _wire(dns.name.from_text(zone))
    wire = struct.pack("!HHHHHH", message_id, 0, 1, 0, 0, 0) + origin
    wire += struct.pack("!HH", dns.rdatatype.AXFR, _IN)
    return sign(wire, key)


@dataclass
class Transfer:
    """An AXFR being read, message by message: the managed record sets seen so far, and
    the TSIG state that chains each message's signature to the one before."""

    zone: str
    key: dns.tsig.Key
    request_mac: bytes
    message_id: int
    records: dict[RecordKey, tuple[int, set[str]]] = field(default_factory=dict)
    soas: int = 0
    messages: int = 0
    _tsig_ctx: Any = None
    _last_signed: bool = False

    @property
    def done(self) -> bool:
        """The closing SOA has arrived (a transfer begins and ends with the zone's SOA)."""
        return self.soas >= 2

    def record_sets(self) -> dict[RecordKey, RecordSet]:
        """What the transfer held, as the sink returns it; WireError if the last message
        was unsigned (nothing after the last signature is vouched for)."""
        if not self._last_signed:
            raise WireError("the transfer's last message carried no TSIG")
        return {
            key: RecordSet(key.name, key.type, ttl, tuple(sorted(values)))
            for key, (ttl, values) in self.records.items()
        }

    def feed(self, wire: bytes) -> int:
        """Reads one message of the transfer; returns its rcode (the caller decides what
        a failure means). Raises WireError on a malformed message, dns.tsig errors when
        its signature does not verify."""
        answer = parse(wire)
        if answer.id != self.message_id or dns.opcode.from_flags(answer.flags) != 0:
            raise WireError("not an answer to the transfer's query")
        first = self.messages == 0
        self.messages += 1
        if answer.tsig_at < 0:
            if first and trusted_unsigned(answer):
                return answer.rcode
            if first:
                raise WireError("the transfer's first message carried no TSIG")
            # RFC 8945 5.3.1: unsigned messages between signed ones count towards the next
            # signature.
            self._tsig_ctx.update(wire)
            self._last_signed = False
        else:
            self._tsig_ctx = verify(
                wire, answer, self.key, self.request_mac, self._tsig_ctx, multi=True
            )
            self._last_signed = True
        if answer.rcode == 0:
            for record in answer.answer:
                self._add(wire, record, first)
        return answer.rcode

    def _add(self, wire: bytes, record: Record, first: bool) -> None:
        if record.rtype == _SOA:
            if self.soas == 0 and absolute(record.owner) != self.zone:
                raise WireError(f"the transfer began with the SOA of {record.owner}")
            self.soas += 1
            return
        if self.soas == 0 and first:
            raise WireError("the transfer did not begin with the zone's SOA")
        if self.done:
            raise WireError("records after the transfer's closing SOA")
        type_name = _TYPE_NAMES.get(record.rtype)
        if type_name is None or record.rdclass != _IN:
            return
        key = RecordKey(absolute(record.owner), type_name)
        value = value_text(wire, record)
        held = self.records.get(key)
        if held is None:
            self.records[key] = (record.ttl, {value})
        else:
            # A record set may span messages; dnspython keeps the lowest TTL, so do we.
            held[1].add(value)
            if record.ttl < held[0]:
                self.records[key] = (record.ttl, held[1])


def _read_name(wire: bytes, offset: int, cache: dict[int, tuple[str, int]]) -> tuple[str, int]:
    """The name at `offset` in presentation form with the final dot (as dnspython's
    Name.to_text writes it) and the offset after it.

    `cache` maps the offsets of names already read in this message to their text and the
    length they take in place: an AXFR compresses nearly every name to a pointer into one
    read before, which makes most names here a label and a lookup."""
    size = len(wire)
    pieces: list[tuple[int, str, int]] = []  # offset, label text, index of its run
    run_ends = [-1]  # where each contiguous run of labels ends (after a pointer or root)
    suffix = "."
    hops = 0
    while True:
        if offset >= size:
            raise WireError("a name runs past the end of the message")
        hit = cache.get(offset)
        if hit is not None:
            suffix = hit[0]
            if run_ends[-1] < 0:
                run_ends[-1] = offset + hit[1]
            break
        length = wire[offset]
        if length >= 0xC0:
            if offset + 1 >= size:
                raise WireError("a name runs past the end of the message")
            run_ends[-1] = offset + 2
            hops += 1
            if hops > 127:
                raise WireError("a compression loop")
            offset = ((length & 0x3F) << 8) | wire[offset + 1]
            run_ends.append(-1)
            continue
        if length > 63:
            raise WireError("a label type this reader does not know")
        if length == 0:
            run_ends[-1] = offset + 1
            cache[offset] = (".", 1)
            break
        raw = wire[offset + 1 : offset + 1 + length]
        if len(raw) != length:
            raise WireError("a name runs past the end of the message")
        pieces.append((offset, _label_text(raw), len(run_ends) - 1))
        offset += 1 + length
    text = suffix
    for at, label, run in reversed(pieces):
        text = label + "." if text == "." else label + "." + text
        cache[at] = (text, run_ends[run] - at)
    return text, run_ends[0]


def _label_text(raw: bytes) -> str:
    if _PLAIN_LABEL.match(raw) and not _LABEL_ESCAPED.search(raw):
        return raw.decode("ascii")
    # Escaping as dnspython does it, from the one who knows how.
    text: str = dns.name.Name([raw]).to_text(omit_final_dot=True)
    return text


def value_text(wire: bytes, record: Record) -> str:
    """One value in canonical presentation form, as RecordSet.from_rdataset holds it."""
    rtype, at, rdlen = record.rtype, record.at, record.rdlen
    if rtype == _A and rdlen == 4:
        return socket.inet_ntop(socket.AF_INET, wire[at : at + 4])
    if rtype == _TXT and rdlen > 0 and wire[at] == rdlen - 1:
        raw = wire[at + 1 : at + rdlen]
        if _PLAIN_TXT.match(raw):
            return '"' + raw.decode("ascii") + '"'
    return str(dns.rdata.from_wire(_IN, dns.rdatatype.RdataType(rtype), wire, at, rdlen).to_text())
