"""The dns plugin's embedded sink: one RFC 1035 zone file per zone in a directory.

With no DNS server configured the plugin still has somewhere real to write: files any
authoritative server loads (BIND's `file`, Knot, NSD), checked by `named-checkzone` in the
tests. A write behaves as an RFC 2136 UPDATE would: every change's prerequisites are
checked against the file first and nothing is written unless all hold, so the planner's
guarantees (never overwrite an edit made since the read) are the same as with a server.

Several plugin instances (fan-out ANY) may share the directory: each read-modify-write of
a zone holds an exclusive `flock` on the zone's lock file, reads hold a shared one. Files
are written to a temporary file, fsynced and renamed over the old one, then the directory
is fsynced: a crash leaves the old zone or the new, never half of one. Record sets a person
wrote into a file are kept on every rewrite (comments are not: the file is re-emitted from
what it holds). The SOA serial goes up on every write that changes something.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import fcntl
import os
import re
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.zone
import pydantic

from tc.plugins.dns.records import MANAGED_TYPES, Change, RecordKey, RecordSet, absolute
from tc.plugins.dns.sinks.base import PrerequisiteFailed, SinkError

_ZONE_NAME = re.compile(r"^[a-z0-9_]([-a-z0-9_]*[a-z0-9_])?(\.[a-z0-9_]([-a-z0-9_]*[a-z0-9_])?)*$")


class ZoneFileSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)

    path: str
    """The directory of zone files, `<zone>.zone` each; created when missing."""
    default_ttl: int = pydantic.Field(default=300, ge=0, le=2_147_483_647)
    """$TTL and SOA TTL of a zone file this sink creates."""
    primary_ns: str = "localhost."
    """MNAME of the SOA and the apex NS record of a zone file this sink creates: set it to
    the name of the server that will load the files."""
    hostmaster: str = "hostmaster.localhost."
    """RNAME of the SOA (the administrator's mailbox, "@" written as ".")."""


def _serial_after(serial: int, today: datetime.date) -> int:
    """The next SOA serial: the date form YYYYMMDDnn when that is ahead, else serial + 1
    (never backwards, whatever the clock says)."""
    dated = int(today.strftime("%Y%m%d")) * 100
    return dated if dated > serial else (serial + 1) % 2**32


class ZoneFileSink:
    def __init__(self, settings: ZoneFileSettings) -> None:
        self.settings = settings
        self.root = Path(settings.path).expanduser()
        # One writer per zone at a time within this process; flock excludes the others.
        self._locks: dict[str, asyncio.Lock] = {}

    def file_of(self, zone: str) -> Path:
        zone = absolute(zone)
        if not _ZONE_NAME.match(zone):
            raise SinkError(
                f"zone {zone!r} cannot be a file name in {self.root}",
                reason="Invalid",
                retryable=False,
            )
        return self.root / f"{zone}.zone"

    async def read(
        self, zone: str, keys: Collection[RecordKey] | None = None
    ) -> dict[RecordKey, RecordSet]:
        path = self.file_of(zone)
        held = await asyncio.to_thread(self._read_locked, zone, path)
        if keys is None:
            return held
        return {k: held[k] for k in keys if k in held}

    async def write(self, zone: str, changes: Sequence[Change]) -> None:
        path = self.file_of(zone)
        lock = self._locks.setdefault(zone, asyncio.Lock())
        async with lock:
            await asyncio.to_thread(self._write_locked, absolute(zone), path, list(changes))

    async def close(self) -> None:
        return None

    # -- in a worker thread ------------------------------------------------------------------

    @contextlib.contextmanager
    def _flock(self, path: Path, kind: int) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, kind)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read_locked(self, zone: str, path: Path) -> dict[RecordKey, RecordSet]:
        with self._flock(path, fcntl.LOCK_SH):
            loaded = self._load(zone, path)
        return {} if loaded is None else _managed(loaded)

    def _load(self, zone: str, path: Path) -> dns.zone.Zone | None:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            return dns.zone.from_text(
                text, origin=zone, relativize=False, filename=str(path), check_origin=True
            )
        except (dns.exception.DNSException, ValueError) as exc:
            # A hand edit broke it: never overwrite what we cannot read.
            raise SinkError(
                f"zone file {path} does not parse: {exc}", reason="Invalid", retryable=False
            ) from None

    def _new_zone(self, zone: str) -> dns.zone.Zone:
        s = self.settings
        text = (
            f"$TTL {s.default_ttl}\n"
            f"@ {s.default_ttl} IN SOA {s.primary_ns} {s.hostmaster} 0 3600 900 1209600 "
            f"{min(s.default_ttl, 3600)}\n"
            f"@ {s.default_ttl} IN NS {s.primary_ns}\n"
        )
        return dns.zone.from_text(text, origin=zone, relativize=False)

    def _write_locked(self, zone: str, path: Path, changes: list[Change]) -> None:
        with self._flock(path, fcntl.LOCK_EX):
            loaded = self._load(zone, path)
            current = self._new_zone(zone) if loaded is None else loaded
            held = _managed(current)
            _check_prerequisites(zone, held, changes)
            changed = False
            for change in changes:
                for record in (change.record, change.owner_record):
                    if change.action == "delete" or not record.values:
                        changed |= _delete(current, record.key, held)
                    else:
                        changed |= _replace(current, record, held)
            if not changed and loaded is not None:
                return
            _bump_serial(current)
            self._write_file(path, current)

    def _write_file(self, path: Path, zone: dns.zone.Zone) -> None:
        text = zone.to_text(sorted=True, relativize=True, want_origin=True)
        ttl = f"$TTL {self.settings.default_ttl}\n"
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(ttl + text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _managed(zone: dns.zone.Zone) -> dict[RecordKey, RecordSet]:
    out: dict[RecordKey, RecordSet] = {}
    managed = {dns.rdatatype.from_text(t) for t in MANAGED_TYPES}
    for name, rdataset in zone.iterate_rdatasets():
        if rdataset.rdtype in managed:
            record = RecordSet.from_rdataset(name.to_text(), rdataset)
            out[record.key] = record
    return out


def _check_prerequisites(
    zone: str, held: Mapping[RecordKey, RecordSet], changes: Sequence[Change]
) -> None:
    """As RFC 2136 section 3.2 would: values compared, TTLs not; all or nothing."""
    for change in changes:
        asserted = [
            (change.record.key, change.previous),
            (change.owner_record.key, change.previous_owner),
        ]
        for key, previous in asserted:
            present = held.get(key)
            if key == change.record.key and not change.record.values:
                continue  # an orphan ownership record: its record set is not touched
            if (present is None) != (previous is None) or (
                present is not None and previous is not None and present.values != previous.values
            ):
                now = "absent" if present is None else ", ".join(present.values)
                raise PrerequisiteFailed(
                    f"zone {zone}: {key} changed since it was read (now {now}); nothing written"
                )


def _rdataset(record: RecordSet) -> dns.rdataset.Rdataset:
    return dns.rdataset.from_text_list(
        dns.rdataclass.IN, dns.rdatatype.from_text(record.type), record.ttl, list(record.values)
    )


def _replace(zone: dns.zone.Zone, record: RecordSet, held: dict[RecordKey, RecordSet]) -> bool:
    if held.get(record.key) == record:
        return False
    name = dns.name.from_text(record.name)
    zone.replace_rdataset(name, _rdataset(record))
    held[record.key] = record
    return True


def _delete(zone: dns.zone.Zone, key: RecordKey, held: dict[RecordKey, RecordSet]) -> bool:
    if held.pop(key, None) is None:
        return False
    zone.delete_rdataset(dns.name.from_text(key.name), dns.rdatatype.from_text(key.type))
    return True


def _bump_serial(zone: dns.zone.Zone) -> None:
    assert zone.origin is not None
    soa = zone.find_rdataset(zone.origin, dns.rdatatype.SOA)
    old = soa[0]
    serial = _serial_after(int(old.serial), datetime.datetime.now(datetime.UTC).date())
    zone.replace_rdataset(zone.origin, dns.rdataset.from_rdata(soa.ttl, old.replace(serial=serial)))
