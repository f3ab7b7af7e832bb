"""The embedded default sink: a GitOps directory of YAML manifests.

One file per object at `<dir>/<namespace>/<kind lower>-<name>.yaml` and a
`<dir>/kustomization.yaml` listing every file we manage, so `kubectl apply -k <dir>` or a
GitOps controller picking up the tree gets exactly the rendered set. What an operator of
such a tree expects, and what this module is organised around:

- Nothing half-written is ever visible: each file is written to a temporary name in its
  directory, fsynced and renamed over the old one.
- A file is rewritten only when its object changes (YAML dumped with sorted keys; compared
  as parsed objects, so a file another YAML writer formatted differently is not churned):
  a change to one intent touches that intent's files and nothing else, and the diffs and
  commits of the tree stay small.
- We only ever delete or overwrite files whose parsed content carries our managed-by
  label. A hand-written file in the way of a rendered object is an error naming the file.
- Every instance of the plugin may write the same directory (fan-out ANY, with failover).
  Writers take an flock on `<dir>/.traffic-controller` and leave a token in it; an
  instance that finds another's token rescans before trusting its in-memory index. The
  rescan only re-reads files whose (inode, size, mtime) changed, and a restarted instance
  starts from the index saved in `<dir>/.traffic-controller.index`, so looking at the
  tree costs a stat per file; steady-state operations cost O(objects of the intent).
- The kustomization lists the whole tree, so rewriting it after every operation would
  make a burst of N applies O(N^2) in bytes written. It is rewritten at most every
  `kustomization_interval` seconds: a new file may exist briefly before it is listed
  (kustomize does not mind), and a deleted object's file is unlinked only after a listing
  without it is written, so the listing never names a file that is gone. A sync and
  close() write everything pending before they return.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from tc.plugins.istio.metadata import MANAGED_BY, MANAGER
from tc.plugins.istio.sinks.base import (
    Change,
    ObjectRef,
    Plan,
    SinkError,
    SinkSettings,
    SyncError,
    check_objects,
    is_managed,
    make_plan,
    owner_of,
    ref_of,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

LISTING = "kustomization.yaml"
LOCK_FILE = ".traffic-controller"
INDEX_CACHE = ".traffic-controller.index"
"""The index as last saved (at sync and close), trusted per file only while the file's Sig
matches: it turns a restarted instance's first look at the tree from a YAML parse per file
(about 0.15 ms each) into a stat per file."""
HEADER = b"# Written by traffic-controller from an intent: edits are overwritten.\n"
_LISTING_HEADER = (
    b"# Written by traffic-controller: every file it manages in this directory.\n"
    b"apiVersion: kustomize.config.k8s.io/v1beta1\n"
    b"kind: Kustomization\n"
    b"metadata:\n"
    b"  labels:\n"
    b"    " + MANAGED_BY.encode() + b": " + MANAGER.encode() + b"\n"
    b"  name: traffic-controller\n"
)
_TEMP = re.compile(r"^\..+\.tc[0-9a-f]{8}-[0-9]+\.tmp$")
_WRITERS = 8
"""Threads writing and fsyncing temp files: fsync waits on the disk, not the GIL, and the
journal commits concurrent fsyncs together (about 3x faster on ext4 here)."""

_Dumper: Any
_Loader: Any
try:
    _Dumper, _Loader = yaml.CSafeDumper, yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml: same output, slower
    _Dumper = yaml.SafeDumper
    _Loader = yaml.SafeLoader


class DirectorySettings(SinkSettings):
    path: str = pydantic.Field(min_length=1)
    kustomization_interval: float = pydantic.Field(default=0.5, ge=0)
    """Seconds between listing rewrites (0: after every write); deleted files wait for it."""
    lock_timeout: float = pydantic.Field(default=30.0, gt=0)
    """Seconds to wait for another instance's lock on the directory before a retryable error."""


Sig = tuple[int, int, int]
"""(inode, size, mtime_ns): an atomic rename always gives a new inode, so any rewrite shows."""


@dataclass(slots=True)
class _File:
    """What the index knows of one `<namespace>/<file>.yaml`, valid while its Sig holds."""

    sig: Sig
    digest: bytes
    """Of the object parsed from the file (see object_digest); b"" when not managed."""
    managed: bool
    intent: str = ""
    ref: ObjectRef | None = None


@dataclass(slots=True)
class _Write:
    rel: str
    digest: bytes
    ref: ObjectRef
    intent: str
    obj: Any
    content: bytes = b""
    """Rendered only once the file is known to need writing."""


@dataclass(slots=True)
class _Work:
    """A diff and what carrying it out takes: computed entirely before anything is written."""

    changes: list[Change] = field(default_factory=list)
    writes: list[_Write] = field(default_factory=list)
    deletes: list[tuple[str, str | None, Change]] = field(default_factory=list)
    """(rel, the owner it must still have when deleted (None: any managed file), change)."""
    failed: dict[str, SinkError] = field(default_factory=dict)


def _digest(content: bytes) -> bytes:
    return hashlib.blake2b(content, digest_size=16).digest()


def object_digest(obj: Any) -> bytes:
    """Identifies an object's content whatever its key order or YAML formatting. Comparing
    this rather than file bytes means an unchanged object costs a JSON dump, not a YAML
    dump (about 10x slower), and a file another YAML writer formatted differently is not
    churned."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return _digest(text.encode())


def _sig(st: os.stat_result) -> Sig:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _plain(value: Any) -> Any:
    """A copy made of dict/list/scalars only, which SafeDumper can represent."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def render_file(obj: Mapping[str, Any]) -> bytes:
    """The bytes of an object's file: deterministic, so equal objects give equal files."""
    try:
        text = yaml.dump(
            _plain(obj),
            Dumper=_Dumper,
            sort_keys=True,
            default_flow_style=False,
            allow_unicode=True,
        )
    except yaml.YAMLError as exc:
        raise SinkError(f"cannot write {ref_of(obj)} as YAML: {exc}", retryable=False) from exc
    return HEADER + text.encode()


def file_for(ref: ObjectRef) -> str:
    """The path of an object's file relative to the directory."""
    return f"{ref.namespace}/{ref.kind.lower()}-{ref.name}.yaml"


def _classify(rel: str, content: bytes, sig: Sig) -> _File:
    try:
        doc = yaml.load(content, Loader=_Loader)
    except Exception:  # whatever cannot be read is not ours to touch
        doc = None
    if not isinstance(doc, dict) or not is_managed(doc):
        return _File(sig, b"", managed=False)
    ref = ref_of(doc)
    if ref is None:
        namespace, _, base = rel.partition("/")
        kind, _, name = base.removesuffix(".yaml").partition("-")
        ref = ObjectRef("", kind, namespace, name)
    return _File(sig, object_digest(_plain(doc)), managed=True, intent=owner_of(doc), ref=ref)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirectorySink:
    """Writes rendered objects into a directory tree; see the module docstring."""

    def __init__(self, settings: DirectorySettings) -> None:
        self.settings = settings
        self.root = Path(settings.path).expanduser()
        self._id = secrets.token_hex(4)
        self._seq = itertools.count(1)
        self._files: dict[str, _File] = {}
        self._owned: dict[str, set[str]] = {}
        self._loaded = False
        self._stale = True
        """Set under the lock when another writer's token is found: rescan before use."""
        self._token: bytes | None = None
        self._lock_fd: int | None = None
        self._listing: tuple[Sig, bytes] | None = None
        """Sig and digest of the listing as we last wrote or read it."""
        self._listing_dirty = False
        self._listing_written_at = float("-inf")
        self._doomed: dict[str, _File] = {}
        """Deleted from the index, unlinked after the next listing write."""
        # The asyncio lock keeps waiting operations off the thread pool; the thread lock is
        # what excludes them, since a cancelled await does not stop its thread.
        self._alock = asyncio.Lock()
        self._tlock = threading.Lock()
        self._flush_task: asyncio.Task[None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self._cache_dirty = False
        self._changed = False
        """Set when an operation changed the tree: other instances must then rescan."""

    # -- the Sink protocol ----------------------------------------------------------------

    async def plan_apply(self, intent: str, objects: Sequence[Mapping[str, Any]]) -> Plan:
        work = await self._run(lambda: self._plan_apply(intent, objects), write=False)
        return make_plan(work.changes)

    async def apply(self, intent: str, objects: Sequence[Mapping[str, Any]]) -> Plan:
        def op() -> _Work:
            work = self._plan_apply(intent, objects)
            self._execute(work)
            return work

        return make_plan((await self._run(op, write=True)).changes)

    async def remove(self, intent: str) -> Plan:
        return await self.apply(intent, [])

    async def plan_sync(self, desired: Mapping[str, Sequence[Mapping[str, Any]]]) -> Plan:
        work = await self._run(lambda: self._plan_sync(desired), write=False)
        if work.failed:
            raise SyncError(work.failed, make_plan(work.changes))
        return make_plan(work.changes)

    async def sync(self, desired: Mapping[str, Sequence[Mapping[str, Any]]]) -> Plan:
        def op() -> _Work:
            work = self._plan_sync(desired)
            self._execute(work)
            self._flush_listing()  # a sync returns with the tree exactly as desired
            self._save_cache()
            return work

        work = await self._run(op, write=True)
        if work.failed:
            raise SyncError(work.failed, make_plan(work.changes))
        return make_plan(work.changes)

    async def flush(self) -> None:
        """Write a listing that is waiting for its interval now.

        Called after every batch, so it must cost nothing when the set of files did not
        change (a workload reshaping a VirtualService): the listing is O(tree). The index
        cache is left to sync and close, which is what a restart reads it after."""

        def op() -> None:
            if self._listing_dirty or self._doomed:
                self._flush_listing()

        await self._run(op, write=True)

    async def close(self) -> None:
        self._closed = True
        task, self._flush_task = self._flush_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            if self._listing_dirty or self._cache_dirty or self._doomed:

                def op() -> None:
                    self._flush_listing()
                    self._save_cache()

                await self._run(op, write=True)
        except SinkError as exc:
            # Shutting down regardless; the next instance's first write retries it.
            log.warning("istio directory sink: flushing %s failed: %s", self.root, exc)
        finally:
            with self._tlock:
                if self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None
                if self._pool is not None:
                    self._pool.shutdown()
                    self._pool = None

    # -- running an operation ---------------------------------------------------------------

    async def _run(self, fn: Callable[[], T], *, write: bool) -> T:
        async with self._alock:
            try:
                return await asyncio.to_thread(self._locked, fn, write)
            finally:
                if write:
                    self._schedule_flush()

    def _locked(self, fn: Callable[[], T], write: bool) -> T:
        with self._tlock, self._dir_lock(create=write):
            try:
                result = fn()
                if write and self._listing_dirty:
                    interval = self.settings.kustomization_interval
                    if time.monotonic() - self._listing_written_at >= interval:
                        self._flush_listing()
                return result
            except SinkError:
                raise
            except OSError as exc:
                self._token = None  # the index may be off from the disk now: rescan next time
                raise SinkError(f"{self.root}: {exc}", retryable=True) from exc
            except BaseException:
                self._token = None
                raise

    def _schedule_flush(self) -> None:
        if self._closed or not self._listing_dirty:
            return
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        delay = self._listing_written_at + self.settings.kustomization_interval - time.monotonic()
        await asyncio.sleep(max(0.0, delay))
        try:
            async with self._alock:
                if self._listing_dirty:
                    await asyncio.to_thread(self._locked, self._flush_listing, True)
        except SinkError as exc:
            # The next operation flushes again and raises it to its caller.
            log.warning("istio directory sink: writing %s failed: %s", LISTING, exc)

    @contextlib.contextmanager
    def _dir_lock(self, *, create: bool) -> Iterator[None]:
        """The cross-instance lock; on entry the index is brought up to date with the disk."""
        if not self.root.is_dir():
            if not create:
                # Nothing to read and a plan must not create the directory.
                self._files, self._owned, self._loaded, self._token = {}, {}, True, None
                self._stale = False
                yield
                return
            self.root.mkdir(parents=True, exist_ok=True)
        fd = self._open_lock_file()
        deadline = time.monotonic() + self.settings.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SinkError(
                        f"{self.root}: still locked by another instance after "
                        f"{self.settings.lock_timeout:g}s",
                        retryable=True,
                    ) from None
                time.sleep(0.01)
        try:
            token = os.pread(fd, 64, 0)
            self._stale = not self._loaded or token != self._token
            self._token = token
            self._changed = False
            try:
                yield
            finally:
                if self._changed or self._token is None:
                    # After a failure too: a partial write is still a change others must
                    # rescan for.
                    mine = f"{self._id}:{next(self._seq)}".encode()
                    os.pwrite(fd, mine, 0)
                    os.ftruncate(fd, len(mine))
                    if self._token is not None:
                        self._token = mine
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _open_lock_file(self) -> int:
        path = self.root / LOCK_FILE
        if self._lock_fd is not None:
            try:
                if os.stat(path).st_ino == os.fstat(self._lock_fd).st_ino:
                    return self._lock_fd
            except FileNotFoundError:
                pass
            # The directory was replaced under us: a lock on the old file excludes nobody.
            os.close(self._lock_fd)
            self._lock_fd = None
            self._loaded = False
        self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._lock_fd

    # -- the index --------------------------------------------------------------------------

    def _rescan(self) -> None:
        """Bring the index up to date, re-reading only files whose Sig changed."""
        if not self._loaded and not self._files:
            self._load_cache()
        files: dict[str, _File] = {}
        try:
            with os.scandir(self.root) as top:
                namespaces = []
                for e in top:
                    if not e.name.startswith("."):
                        namespaces.append(e)
                    elif _TEMP.match(e.name):  # a listing whose writer died mid-write
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(e.path)
        except FileNotFoundError:
            namespaces = []
        for ns in namespaces:
            if not ns.is_dir(follow_symlinks=False):
                continue
            with os.scandir(ns.path) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith("."):
                        if _TEMP.match(name):
                            # Left by a writer that died mid-write (live ones hold the lock).
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(entry.path)
                        continue
                    if not name.endswith(".yaml") or not entry.is_file(follow_symlinks=False):
                        continue
                    rel = f"{ns.name}/{name}"
                    if rel in self._doomed:
                        continue
                    old = self._files.get(rel)
                    if old is not None and old.sig == _sig(entry.stat(follow_symlinks=False)):
                        files[rel] = old
                        continue
                    current = self._read(rel)
                    self._cache_dirty = True
                    if current is not None:
                        files[rel] = current
        if len(files) != len(self._files):
            self._cache_dirty = True
        before = {rel for rel, f in self._files.items() if f.managed}
        self._files = files
        self._owned = {}
        for rel, f in files.items():
            if f.managed:
                self._owned.setdefault(f.intent, set()).add(rel)
        if not self._loaded or before != {rel for rel, f in files.items() if f.managed}:
            # Compared with the disk at the next write, and rewritten only if it differs.
            self._listing_dirty = True
        self._loaded = True
        self._stale = False

    def _load_cache(self) -> None:
        try:
            data = json.loads((self.root / INDEX_CACHE).read_bytes())
            files = {
                rel: _File(
                    (int(ino), int(size), int(mtime)),
                    bytes.fromhex(digest),
                    managed=True,
                    intent=str(intent),
                    ref=ObjectRef(str(api_version), str(kind), str(namespace), str(name)),
                )
                for rel, (ino, size, mtime, digest, intent, api_version, kind, namespace, name) in (
                    data["files"].items() if data.get("version") == 1 else ()
                )
            }
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return  # no cache or an unreadable one: every file is read instead
        self._files = files

    def _save_cache(self) -> None:
        if not self._cache_dirty or not self._loaded:
            return
        files = {}
        for rel, f in self._files.items():
            if f.managed and f.ref is not None:
                r = f.ref
                files[rel] = [
                    *f.sig,
                    f.digest.hex(),
                    f.intent,
                    r.api_version,
                    r.kind,
                    r.namespace,
                    r.name,
                ]
        content = json.dumps({"version": 1, "files": files}, separators=(",", ":")).encode()
        path = self.root / INDEX_CACHE
        tmp = path.parent / f".{path.name}.tc{self._id}-{next(self._seq)}.tmp"
        # Not fsynced: a cache lost in a crash costs a re-read, and every entry is checked.
        tmp.write_bytes(content)
        os.replace(tmp, path)
        self._cache_dirty = False

    def _ensure_index(self) -> None:
        if self._stale or not self._loaded:
            self._rescan()

    def _read(self, rel: str) -> _File | None:
        try:
            fd = os.open(self.root / rel, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            # A symlink or something else we cannot read: in the way, and not ours.
            return _File((0, 0, 0), b"", managed=False)
        try:
            st = os.fstat(fd)
            with os.fdopen(fd, "rb", closefd=False) as f:
                content = f.read()
        finally:
            os.close(fd)
        return _classify(rel, content, _sig(st))

    def _current(self, rel: str) -> _File | None:
        """The file as it is on disk now; the index entry when its Sig still holds."""
        if rel in self._doomed:
            return None
        try:
            st = os.stat(self.root / rel, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            self._set(rel, None)
            return None
        old = self._files.get(rel)
        if old is not None and old.sig == _sig(st):
            return old
        current = self._read(rel)
        self._set(rel, current)
        return current

    def _set(self, rel: str, f: _File | None) -> None:
        """Replace the index entry of one file (None: it is gone)."""
        old = self._files.pop(rel, None)
        if old is not None and old.managed:
            owned = self._owned.get(old.intent)
            if owned is not None:
                owned.discard(rel)
                if not owned:
                    del self._owned[old.intent]
        if f is not None:
            self._files[rel] = f
            if f.managed:
                self._owned.setdefault(f.intent, set()).add(rel)
        if old is not f:
            self._cache_dirty = True
        if (old is not None and old.managed) != (f is not None and f.managed):
            self._listing_dirty = True

    # -- diff -------------------------------------------------------------------------------

    def _desired(self, intent: str, objects: Sequence[Mapping[str, Any]]) -> list[_Write]:
        out = []
        for ref, obj in check_objects(intent, objects).items():
            plain = _plain(obj)
            out.append(_Write(file_for(ref), object_digest(plain), ref, intent, plain))
        return out

    def _diff(self, w: _Write, *, take_over: bool) -> Change:
        current = self._current(w.rel)
        if current is not None and current.managed and current.digest == w.digest:
            return Change("unchanged", w.ref, w.intent)
        w.content = render_file(w.obj)
        if current is None:
            return Change("create", w.ref, w.intent)
        if not current.managed:
            raise SinkError(
                f"{self.root / w.rel} exists and is not managed by {MANAGER} (no "
                f"{MANAGED_BY}={MANAGER} label): refusing to overwrite it with {w.ref} of "
                f"intent {w.intent!r}",
                retryable=False,
                ref=w.ref,
            )
        if current.intent and current.intent != w.intent and not take_over:
            raise SinkError(
                f"{w.ref} ({self.root / w.rel}) belongs to intent {current.intent!r}, not "
                f"{w.intent!r}",
                retryable=False,
                ref=w.ref,
            )
        return Change("update", w.ref, w.intent)

    def _deletion(self, rel: str) -> Change:
        f = self._files[rel]
        assert f.ref is not None
        return Change("delete", f.ref, f.intent)

    def _check_listing(self) -> tuple[Sig, bytes] | None:
        """Sig and digest of the listing on disk (None: there is none); raises if it is not ours."""
        path = self.root / LISTING
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._listing = None
            return None
        if self._listing is not None and self._listing[0] == _sig(st):
            return self._listing
        content = path.read_bytes()
        f = _classify(LISTING, content, _sig(st))
        f.digest = _digest(content)
        if not f.managed:
            raise SinkError(
                f"{path} exists and is not managed by {MANAGER} (no {MANAGED_BY}={MANAGER} "
                "label): refusing to overwrite it",
                retryable=False,
            )
        self._listing = (f.sig, f.digest)
        return self._listing

    def _plan_apply(self, intent: str, objects: Sequence[Mapping[str, Any]]) -> _Work:
        writes = self._desired(intent, objects)
        self._ensure_index()
        if writes or self._owned.get(intent):
            self._check_listing()
        work = _Work()
        for w in writes:
            change = self._diff(w, take_over=False)
            work.changes.append(change)
            if change.action != "unchanged":
                work.writes.append(w)
        wanted = {w.rel for w in writes}
        for rel in sorted(self._owned.get(intent, set()) - wanted):
            if self._current(rel) is not None and rel in self._owned.get(intent, set()):
                change = self._deletion(rel)
                work.changes.append(change)
                work.deletes.append((rel, intent, change))
        return work

    def _plan_sync(self, desired: Mapping[str, Sequence[Mapping[str, Any]]]) -> _Work:
        work = _Work()
        by_rel: dict[str, _Write] = {}
        per_intent: dict[str, list[_Write]] = {}
        for intent in sorted(desired):
            try:
                writes = self._desired(intent, desired[intent])
                for w in writes:
                    other = by_rel.get(w.rel)
                    if other is not None:
                        raise SinkError(
                            f"{w.ref} ({w.rel}) is rendered by intents {other.intent!r} and "
                            f"{intent!r}",
                            retryable=False,
                            ref=w.ref,
                        )
            except SinkError as exc:
                work.failed[intent] = exc
                continue
            per_intent[intent] = writes
            by_rel.update((w.rel, w) for w in writes)
        # Sync is the full truth, so it always looks at the whole tree (a stat per file).
        self._rescan()
        self._check_listing()
        for intent, writes in per_intent.items():
            try:
                changes = [self._diff(w, take_over=True) for w in writes]
            except SinkError as exc:
                work.failed[intent] = exc
                continue
            work.changes.extend(changes)
            work.writes.extend(
                w for w, c in zip(writes, changes, strict=True) if c.action != "unchanged"
            )
        keep = set(by_rel) | {rel for name in work.failed for rel in self._owned.get(name, ())}
        for rel in sorted(rel for rel, f in self._files.items() if f.managed and rel not in keep):
            change = self._deletion(rel)
            work.changes.append(change)
            work.deletes.append((rel, None, change))
        return work

    # -- write ------------------------------------------------------------------------------

    def _execute(self, work: _Work) -> None:
        if work.writes:
            self._write_files(work.writes)
        for rel, owner, change in work.deletes:
            current = self._current(rel)
            # Re-read: a file whose label was removed by hand since is no longer ours.
            if current is not None and current.managed and owner in (None, current.intent):
                self._set(rel, None)
                # Unlinked right after the next listing write, so the listing never names
                # a file that is gone (and a burst of removals shares one listing write).
                self._doomed[rel] = current
            else:
                work.changes.remove(change)

    def _unlink_doomed(self) -> None:
        dirs: set[Path] = set()
        for rel, doomed in sorted(self._doomed.items()):
            if rel in self._files:
                continue  # written again since
            try:
                unchanged = _sig(os.stat(self.root / rel, follow_symlinks=False)) == doomed.sig
            except FileNotFoundError:
                continue
            if not unchanged:
                current = self._read(rel)
                if current is None or not current.managed or current.intent != doomed.intent:
                    continue
            self._changed = True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.root / rel)
            dirs.add((self.root / rel).parent)
        self._doomed.clear()
        for d in sorted(dirs):
            try:
                d.rmdir()  # only succeeds when nothing, hand-written or ours, is left
            except OSError:
                _fsync_dir(d)
            else:
                _fsync_dir(self.root)

    def _write_files(self, writes: Sequence[_Write]) -> None:
        dirs = sorted({(self.root / w.rel).parent for w in writes})
        created = False
        for d in dirs:
            if not d.is_dir():
                d.mkdir(parents=True, exist_ok=True)
                created = True
        temps: list[tuple[str, Sig]] = []
        try:
            if len(writes) > 1:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(_WRITERS, thread_name_prefix="tc-istio-dir")
                futures = [self._pool.submit(self._write_temp, w) for w in writes]
                errors = []
                for future in futures:
                    try:
                        temps.append(future.result())
                    except OSError as exc:
                        errors.append(exc)
                if errors:
                    raise errors[0]
            else:
                for w in writes:
                    temps.append(self._write_temp(w))
        except BaseException:
            for tmp, _ in temps:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise
        self._changed = True
        for w, (tmp, sig) in zip(writes, temps, strict=True):
            os.replace(tmp, self.root / w.rel)
            self._doomed.pop(w.rel, None)
            self._set(w.rel, _File(sig, w.digest, managed=True, intent=w.intent, ref=w.ref))
        for d in dirs:
            _fsync_dir(d)
        if created:
            _fsync_dir(self.root)

    def _write_temp(self, w: _Write) -> tuple[str, Sig]:
        final = self.root / w.rel
        tmp = str(final.parent / f".{final.name}.tc{self._id}-{next(self._seq)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(w.content)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            # rename keeps inode, size and mtime, so this is the Sig the final file will have
            sig = _sig(os.fstat(fd))
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        return tmp, sig

    def _listing_bytes(self) -> bytes:
        rels = sorted(rel for rel, f in self._files.items() if f.managed)
        # Paths are built from DNS names, kinds and '/', all plain YAML scalars.
        body = "".join(f"- {rel}\n" for rel in rels) if rels else " []\n"
        return _LISTING_HEADER + b"resources:" + (b"\n" if rels else b"") + body.encode()

    def _flush_listing(self) -> None:
        """Write kustomization.yaml if its content differs from what the tree needs."""
        self._ensure_index()
        content = self._listing_bytes()
        digest = _digest(content)
        current = self._check_listing()
        if current is None or current[1] != digest:
            w = _Write(LISTING, digest, ObjectRef("", "Kustomization", "", ""), "", None, content)
            tmp, sig = self._write_temp(w)
            self._changed = True
            os.replace(tmp, self.root / LISTING)
            _fsync_dir(self.root)
            self._listing = (sig, digest)
            self._listing_written_at = time.monotonic()
        self._listing_dirty = False
        if self._doomed:
            self._unlink_doomed()
