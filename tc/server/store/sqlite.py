"""The single-node intent store: SQLite in WAL mode with group commit.

sqlite3 connections block, and the controller must take thousands of applies per second
while serving gRPC on the same event loop. So one writer thread owns the only write
connection: it drains every queued write request, runs them all in ONE transaction (one
fsync for the whole group), then hands results back to the loop. Reads go to a separate
small thread pool with its own connections, which WAL lets run alongside the writer.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import dataclasses
import json
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tc.server.store.base import (
    DEFAULT_SUBSCRIBER_QUEUE,
    ApplyOp,
    ApplyOutcome,
    ApplyResult,
    BackendError,
    Deleting,
    EventHub,
    EventType,
    GenerationMismatch,
    IntentRecord,
    KindChanged,
    NotFound,
    Store,
    StoreClosed,
    StoreError,
    StoreEvent,
    Subscription,
)

T = TypeVar("T")

# Each entry migrates the schema from version i to i + 1; append, never edit.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE intents (
            name TEXT NOT NULL PRIMARY KEY,
            uid TEXT NOT NULL,
            kind TEXT NOT NULL,
            labels TEXT NOT NULL,
            spec BLOB NOT NULL,
            generation INTEGER NOT NULL,
            create_time_us INTEGER NOT NULL,
            update_time_us INTEGER NOT NULL,
            delete_time_us INTEGER,
            status BLOB NOT NULL,
            revision INTEGER NOT NULL
        )
        """,
        # The store revision outlives the rows that carried it (drop removes the newest).
        "CREATE TABLE store_meta (key TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO store_meta (key, value) VALUES ('revision', 0)",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

_COLUMNS = (
    "name, uid, kind, labels, spec, generation, create_time_us, update_time_us, "
    "delete_time_us, status, revision"
)
_SELECT_ONE = f"SELECT {_COLUMNS} FROM intents WHERE name = ?"
_SELECT_REVISION = "SELECT value FROM store_meta WHERE key = 'revision'"

# Bounds one group so that a flood of writers still gets commits (and replies) regularly.
_MAX_GROUP = 1024
_BUSY_TIMEOUT_MS = 5000
# Without a cap, the WAL file keeps its high-water size after each checkpoint.
_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
_READER_THREADS = 2
_SYNCHRONOUS_MODES = ("FULL", "NORMAL")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _now_us() -> int:
    return time.time_ns() // 1000


def _to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _labels_json(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _record(row: Sequence[Any]) -> IntentRecord:
    (name, uid, kind, labels, spec, generation, create_us, update_us, delete_us, status, rev) = row
    return IntentRecord(
        name=name,
        uid=uid,
        kind=kind,
        labels=MappingProxyType(json.loads(labels)),
        spec=bytes(spec),
        generation=generation,
        create_time=_to_datetime(create_us),
        update_time=_to_datetime(update_us),
        delete_time=None if delete_us is None else _to_datetime(delete_us),
        status=bytes(status),
        revision=rev,
    )


class _Txn:
    """What one group transaction accumulates: the running revision and its events."""

    __slots__ = ("conn", "events", "revision")

    def __init__(self, conn: sqlite3.Connection, revision: int) -> None:
        self.conn = conn
        self.revision = revision
        self.events: list[StoreEvent] = []

    def next_revision(self) -> int:
        self.revision += 1
        return self.revision


@dataclasses.dataclass(slots=True)
class _Request(Generic[T]):
    # Must raise a StoreError only before its first write, so failing it alone is safe.
    run: Callable[[_Txn], T]
    future: asyncio.Future[T]


@dataclasses.dataclass(slots=True)
class _Done:
    future: asyncio.Future[Any]
    value: Any = None
    error: BaseException | None = None


class SqliteStore:
    """Intent store in one SQLite file. Bound to the event loop that calls `open()`."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        mode = synchronous.upper()
        if mode not in _SYNCHRONOUS_MODES:
            raise ValueError(
                f"synchronous must be one of {_SYNCHRONOUS_MODES}, not {synchronous!r}"
            )
        self._path = Path(path)
        self._synchronous = mode
        self._opened = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: queue.SimpleQueue[_Request[Any] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None
        self._reader_local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._hub = EventHub()

    @property
    def path(self) -> Path:
        return self._path

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        if self._opened:
            raise RuntimeError("store already opened")
        self._opened = True
        self._loop = asyncio.get_running_loop()
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._writer = threading.Thread(
            target=self._writer_main, args=(ready,), name="tc-store-writer", daemon=True
        )
        self._writer.start()
        try:
            revision = await asyncio.wrap_future(ready)
        except BaseException:
            # Also covers a cancelled open whose writer went on to start: stop it.
            self._closed = True
            self._queue.put(None)
            await asyncio.to_thread(self._writer.join)
            raise
        self._hub = EventHub(revision)
        self._readers = concurrent.futures.ThreadPoolExecutor(
            max_workers=_READER_THREADS, thread_name_prefix="tc-store-read"
        )

    async def close(self) -> None:
        if not self._opened or self._closed:
            self._closed = True
            return
        self._closed = True
        # None is the stop marker; requests queued before it are still committed and answered.
        self._queue.put(None)
        if self._writer is not None:
            await asyncio.to_thread(self._writer.join)
        # The writer's last replies were scheduled before to_thread's, so they have run.
        self._hub.close()
        if self._readers is not None:
            await asyncio.to_thread(self._readers.shutdown, wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    def _check_open(self) -> asyncio.AbstractEventLoop:
        if self._closed:
            raise StoreClosed()
        if self._loop is None:
            raise StoreClosed("store is not open yet")
        return self._loop

    # -- connections -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit, so no hidden BEGIN holds a
        # snapshot open on the read connections.
        conn = sqlite3.connect(
            self._path,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=64,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            (journal_mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if str(journal_mode).lower() != "wal":
                raise BackendError(f"{self._path}: cannot use WAL mode (got {journal_mode!r})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise BackendError(
                    f"{self._path}: schema version {version} is newer than this controller "
                    f"supports ({SCHEMA_VERSION})"
                )
            for statements in _MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version != SCHEMA_VERSION:
                conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            (revision,) = conn.execute(_SELECT_REVISION).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(revision)

    # -- the writer thread -----------------------------------------------------------

    def _writer_main(self, ready: concurrent.futures.Future[int]) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            try:
                revision = self._migrate(conn)
            except BaseException:
                conn.close()
                raise
        except sqlite3.Error as exc:
            ready.set_exception(BackendError(f"{self._path}: cannot open store: {exc}"))
            return
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(revision)
        try:
            stop = False
            while not stop:
                first = self._queue.get()
                if first is None:
                    break
                group: list[_Request[Any]] = [first]
                while len(group) < _MAX_GROUP:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    group.append(item)
                self._run_group(conn, group)
        finally:
            conn.close()

    def _run_group(self, conn: sqlite3.Connection, group: list[_Request[Any]]) -> None:
        try:
            events, done = self._commit(conn, group)
        except Exception as exc:
            if len(group) == 1:
                events, done = [], [_Done(group[0].future, error=_backend_error(exc))]
            else:
                # One bad request must not fail the rest: retry each in its own transaction.
                events, done = [], []
                for request in group:
                    try:
                        one_events, one_done = self._commit(conn, [request])
                    except Exception as one_exc:
                        done.append(_Done(request.future, error=_backend_error(one_exc)))
                    else:
                        events += one_events
                        done += one_done
        loop = self._loop
        assert loop is not None
        # A closed loop means nobody is left to answer.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._deliver, events, done)

    def _commit(
        self, conn: sqlite3.Connection, group: list[_Request[Any]]
    ) -> tuple[list[StoreEvent], list[_Done]]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            (start,) = conn.execute(_SELECT_REVISION).fetchone()
            txn = _Txn(conn, int(start))
            done: list[_Done] = []
            for request in group:
                try:
                    done.append(_Done(request.future, value=request.run(txn)))
                except StoreError as exc:
                    done.append(_Done(request.future, error=exc))
            if txn.revision != start:
                conn.execute(
                    "UPDATE store_meta SET value = ? WHERE key = 'revision'", (txn.revision,)
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return txn.events, done

    def _deliver(self, events: list[StoreEvent], done: list[_Done]) -> None:
        # Events first: when a write returns, its event is already queued for subscribers.
        self._hub.publish(events)
        for item in done:
            if item.future.done():
                continue  # The caller was cancelled; the write stands regardless.
            if item.error is not None:
                item.future.set_exception(item.error)
            else:
                item.future.set_result(item.value)

    async def _write(self, run: Callable[[_Txn], T]) -> T:
        loop = self._check_open()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Request(run, future))
        return await future

    # -- the readers -----------------------------------------------------------------

    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._reader_local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = ON")
            self._reader_local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    def _run_read(self, read: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return read(self._reader_conn())
        except sqlite3.Error as exc:
            raise _backend_error(exc) from exc

    async def _read(self, read: Callable[[sqlite3.Connection], T]) -> T:
        loop = self._check_open()
        return await loop.run_in_executor(self._readers, self._run_read, read)

    # -- writes ----------------------------------------------------------------------

    async def check_writable(self) -> None:
        # Through the writer thread like every write: proves that thread is alive and
        # BEGIN IMMEDIATE gets the write lock; the empty transaction commits nothing.
        await self._write(lambda txn: None)

    async def apply(self, op: ApplyOp) -> ApplyResult:
        return await self._write(lambda txn: _apply(txn, op))

    async def apply_many(self, ops: Sequence[ApplyOp]) -> builtins.list[ApplyResult | StoreError]:
        self._check_open()
        ops = builtins.list(ops)

        def run(txn: _Txn) -> builtins.list[ApplyResult | StoreError]:
            results: builtins.list[ApplyResult | StoreError] = []
            for op in ops:
                try:
                    results.append(_apply(txn, op))
                except StoreError as exc:
                    results.append(exc)
            return results

        if not ops:
            return []
        return await self._write(run)

    async def mark_deleting(
        self, name: str, expected_generation: int | None = None
    ) -> IntentRecord:
        return await self._write(lambda txn: _mark_deleting(txn, name, expected_generation))

    async def drop(self, name: str, uid: str) -> bool:
        return await self._write(lambda txn: _drop(txn, name, uid))

    async def set_status(self, updates: Sequence[tuple[str, str, bytes]]) -> int:
        self._check_open()
        updates = builtins.list(updates)
        for _, _, status in updates:
            if not isinstance(status, bytes):
                raise TypeError("status must be bytes")
        if not updates:
            return 0
        return await self._write(lambda txn: _set_status(txn, updates))

    # -- reads -----------------------------------------------------------------------

    async def get(self, name: str) -> IntentRecord:
        def read(conn: sqlite3.Connection) -> IntentRecord:
            row = conn.execute(_SELECT_ONE, (name,)).fetchone()
            if row is None:
                raise NotFound(name)
            return _record(row)

        return await self._read(read)

    async def list(
        self, *, after: str = "", limit: int = 100, labels: Mapping[str, str] | None = None
    ) -> builtins.list[IntentRecord]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        sql = f"SELECT {_COLUMNS} FROM intents WHERE name > ?"
        params: builtins.list[object] = [after]
        # json_each, not a JSON path: label keys such as "app.kubernetes.io/name" would need
        # path quoting. Filtering in SQL keeps LIMIT, and so keyset paging, exact.
        for key, value in sorted((labels or {}).items()):
            sql += (
                " AND EXISTS (SELECT 1 FROM json_each(intents.labels)"
                " WHERE json_each.key = ? AND json_each.value = ?)"
            )
            params += [key, value]
        sql += " ORDER BY name LIMIT ?"
        params.append(limit)

        def read(conn: sqlite3.Connection) -> builtins.list[IntentRecord]:
            return [_record(row) for row in conn.execute(sql, params).fetchall()]

        return await self._read(read)

    async def list_all(self) -> builtins.list[IntentRecord]:
        def read(conn: sqlite3.Connection) -> builtins.list[IntentRecord]:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM intents ORDER BY name").fetchall()
            return [_record(row) for row in rows]

        return await self._read(read)

    async def count(self) -> int:
        def read(conn: sqlite3.Connection) -> int:
            (n,) = conn.execute("SELECT count(*) FROM intents").fetchone()
            return int(n)

        return await self._read(read)

    def subscribe(self, *, max_queue: int = DEFAULT_SUBSCRIBER_QUEUE) -> Subscription:
        self._check_open()
        return self._hub.subscribe(max_queue)


# -- operations, run on the writer thread inside a group transaction ----------------------
# Each validates before it writes, so a StoreError leaves the transaction untouched.


def _backend_error(exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    error = BackendError(f"{type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _load(txn: _Txn, name: str) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = txn.conn.execute(_SELECT_ONE, (name,)).fetchone()
    return row


def _apply(txn: _Txn, op: ApplyOp) -> ApplyResult:
    conn = txn.conn
    row = _load(txn, op.name)
    labels_json = _labels_json(op.labels)
    if row is None:
        if op.expected_generation:
            raise NotFound(op.name)
        now = _now_us()
        revision = txn.next_revision()
        uid = str(uuid.uuid4())
        conn.execute(
            f"INSERT INTO intents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, 1, ?, ?, NULL, x'', ?)",
            (op.name, uid, op.kind, labels_json, op.spec, now, now, revision),
        )
        created = IntentRecord(
            name=op.name,
            uid=uid,
            kind=op.kind,
            labels=op.labels,
            spec=op.spec,
            generation=1,
            create_time=_to_datetime(now),
            update_time=_to_datetime(now),
            delete_time=None,
            status=b"",
            revision=revision,
        )
        txn.events.append(StoreEvent(EventType.ADDED, created, revision))
        return created, ApplyOutcome.CREATED

    current = _record(row)
    if current.deleting:
        raise Deleting(op.name)
    if op.expected_generation is not None and op.expected_generation != current.generation:
        raise GenerationMismatch(op.name, op.expected_generation, current.generation)
    if op.kind != current.kind:
        raise KindChanged(op.name, current.kind, op.kind)
    spec_changed = op.spec != current.spec
    # Compare parsed labels, not text, so a row written with other JSON formatting still
    # counts as unchanged.
    labels_changed = dict(op.labels) != dict(current.labels)
    if not spec_changed and not labels_changed:
        return current, ApplyOutcome.UNCHANGED

    now = _now_us()
    revision = txn.next_revision()
    generation = current.generation + 1 if spec_changed else current.generation
    conn.execute(
        "UPDATE intents SET labels = ?, spec = ?, generation = ?, update_time_us = ?, "
        "revision = ? WHERE name = ?",
        (labels_json, op.spec, generation, now, revision, op.name),
    )
    updated = dataclasses.replace(
        current,
        labels=op.labels,
        spec=op.spec,
        generation=generation,
        update_time=_to_datetime(now),
        revision=revision,
    )
    txn.events.append(StoreEvent(EventType.MODIFIED, updated, revision))
    return updated, ApplyOutcome.CONFIGURED


def _mark_deleting(txn: _Txn, name: str, expected_generation: int | None) -> IntentRecord:
    row = _load(txn, name)
    if row is None:
        raise NotFound(name)
    current = _record(row)
    if expected_generation is not None and expected_generation != current.generation:
        raise GenerationMismatch(name, expected_generation, current.generation)
    if current.deleting:
        return current
    now = _now_us()
    revision = txn.next_revision()
    txn.conn.execute(
        "UPDATE intents SET delete_time_us = ?, update_time_us = ?, revision = ? WHERE name = ?",
        (now, now, revision, name),
    )
    marked = dataclasses.replace(
        current, delete_time=_to_datetime(now), update_time=_to_datetime(now), revision=revision
    )
    txn.events.append(StoreEvent(EventType.MODIFIED, marked, revision))
    return marked


def _drop(txn: _Txn, name: str, uid: str) -> bool:
    row = _load(txn, name)
    if row is None:
        return False
    current = _record(row)
    if not current.deleting or current.uid != uid:
        return False
    revision = txn.next_revision()
    txn.conn.execute("DELETE FROM intents WHERE name = ?", (name,))
    gone = dataclasses.replace(current, revision=revision)
    txn.events.append(StoreEvent(EventType.DELETED, gone, revision))
    return True


def _set_status(txn: _Txn, updates: Sequence[tuple[str, str, bytes]]) -> int:
    matched = 0
    for name, uid, status in updates:
        row = _load(txn, name)
        if row is None:
            continue
        current = _record(row)
        if current.uid != uid:
            continue
        matched += 1
        if status == current.status:
            continue  # Re-reporting the same status is common; it is not a change.
        revision = txn.next_revision()
        txn.conn.execute(
            "UPDATE intents SET status = ?, revision = ? WHERE name = ?",
            (status, revision, name),
        )
        updated = dataclasses.replace(current, status=status, revision=revision)
        txn.events.append(StoreEvent(EventType.MODIFIED, updated, revision))
    return matched


if TYPE_CHECKING:

    def _conforms(store: SqliteStore) -> Store:
        # Type checking fails here if SqliteStore drifts from the Store contract.
        return store
