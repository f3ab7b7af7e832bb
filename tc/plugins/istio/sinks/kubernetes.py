"""The istio sink for a live cluster: server-side apply through the `kubernetes` client.

Objects are written with server-side apply under the field manager `traffic-controller`,
so the API server tracks which fields are ours: a field another manager (kubectl, another
controller, a human) owns with a different value is a 409 Conflict that we report rather
than overwrite, unless `force_conflicts` is set. Pruning lists by our managed-by label and
re-reads each object just before deleting it, with the uid and resourceVersion it saw as
delete preconditions, so an object whose label was removed in between is never deleted.

The diff is the server's own: plan_* runs the same applies with dryRun=All and compares
what would result with what is there (as `kubectl diff` does), so a Plan reflects
defaulting, other managers' fields and conflicts exactly as apply would meet them.

The client is synchronous; each operation runs in a worker thread so the plugin's event
loop keeps answering health checks while a large sync talks to the API server.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pydantic

from tc.plugins.istio.metadata import INTENT, MANAGED_BY, MANAGER, intent_label
from tc.plugins.istio.sinks.base import (
    ISTIO_KINDS,
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

T = TypeVar("T")

FIELD_MANAGER = MANAGER
MANAGED_SELECTOR = f"{MANAGED_BY}={MANAGER}"
_PAGE = 500
_NOT_SERVED_TTL = 30.0


class KubernetesSettings(SinkSettings):
    kubeconfig: str | None = None
    """Path of a kubeconfig; None: $KUBECONFIG or ~/.kube/config."""
    context: str | None = None
    """Context in the kubeconfig; None: its current-context."""
    in_cluster: bool = False
    """Use the pod's service account instead of a kubeconfig."""
    force_conflicts: bool = False
    """Take over fields (and unlabelled objects) other managers own instead of reporting."""
    dry_run: bool = False
    """Send every write with dryRun=All: report what would change, change nothing."""
    timeout: float = pydantic.Field(default=30.0, gt=0)
    """Seconds per API request."""

    @pydantic.field_validator("in_cluster")
    @classmethod
    def _one_source(cls, value: bool, info: pydantic.ValidationInfo) -> bool:
        if value and (info.data.get("kubeconfig") or info.data.get("context")):
            raise ValueError("cannot be combined with kubeconfig or context")
        return value


class _Unreachable(SinkError):
    """The API server did not answer: every other request would fail the same way."""


class _NotServed(SinkError):
    """The API server does not serve this kind (Istio's CRDs are not installed)."""


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _view(obj: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """What apply sets: everything but metadata and status, plus labels and annotations."""
    meta = obj.get("metadata") or {}
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    return body, meta.get("labels") or {}, meta.get("annotations") or {}


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, str) and body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        return str(message or body)
    return f"HTTP {getattr(exc, 'status', '?')} {getattr(exc, 'reason', '')}".strip()


class KubernetesSink:
    """Writes rendered objects to a Kubernetes API server; see the module docstring."""

    def __init__(self, settings: KubernetesSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self._resources: dict[tuple[str, str], Any] = {}
        self._not_served: dict[tuple[str, str], float] = {}
        self._cache_dir: str | None = None
        self._alock = asyncio.Lock()
        # A cancelled await does not stop its worker thread: this is what keeps two
        # operations from sharing the client (its discovery cache is not thread-safe).
        self._tlock = threading.Lock()

    # -- the Sink protocol ----------------------------------------------------------------

    async def plan_apply(self, intent: str, objects: Sequence[Mapping[str, Any]]) -> Plan:
        return await self._run(lambda: self._apply(intent, objects, write=False))

    async def apply(self, intent: str, objects: Sequence[Mapping[str, Any]]) -> Plan:
        return await self._run(lambda: self._apply(intent, objects, write=True))

    async def remove(self, intent: str) -> Plan:
        return await self.apply(intent, [])

    async def plan_sync(self, desired: Mapping[str, Sequence[Mapping[str, Any]]]) -> Plan:
        return await self._run(lambda: self._sync(desired, write=False))

    async def sync(self, desired: Mapping[str, Sequence[Mapping[str, Any]]]) -> Plan:
        return await self._run(lambda: self._sync(desired, write=True))

    async def flush(self) -> None:
        """Every apply is already on the server."""

    async def close(self) -> None:
        async with self._alock:
            await asyncio.to_thread(self._close)

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], T]) -> T:
        async with self._alock:
            return await asyncio.to_thread(self._locked, fn)

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._tlock:
            return fn()

    def _close(self) -> None:
        with self._tlock:
            client, self._client = self._client, None
            self._resources = {}
            if client is not None:
                client.client.close()
            if self._cache_dir is not None:
                shutil.rmtree(self._cache_dir, ignore_errors=True)
                self._cache_dir = None

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        from kubernetes import client as kclient
        from kubernetes import config as kconfig
        from kubernetes import dynamic

        source = "the in-cluster service account" if self.settings.in_cluster else "kubeconfig"
        try:
            if self.settings.in_cluster:
                configuration = kclient.Configuration()
                kconfig.load_incluster_config(client_configuration=configuration)
                api = kclient.ApiClient(configuration)
            else:
                api = kconfig.new_client_from_config(
                    config_file=self.settings.kubeconfig,
                    context=self.settings.context,
                    persist_config=False,  # never write refreshed tokens into the operator's file
                )
        except (kconfig.ConfigException, OSError, ValueError, TypeError) as exc:
            raise SinkError(
                f"kubernetes sink: cannot load {source}: {exc}", retryable=False
            ) from exc
        if self._cache_dir is None:
            # The discovery cache defaults to a file in /tmp shared by every client of the
            # same server; a private one cannot be stale from someone else's run.
            self._cache_dir = tempfile.mkdtemp(prefix="tc-istio-discovery-")
        try:
            self._client = dynamic.DynamicClient(
                api, cache_file=os.path.join(self._cache_dir, "discovery.json")
            )
        except Exception as exc:
            api.close()
            raise self._translate(exc, None) from exc
        return self._client

    def _translate(self, exc: BaseException, ref: ObjectRef | None) -> SinkError:
        import urllib3
        from kubernetes.client.rest import ApiException

        where = f"{ref}: " if ref is not None else ""
        if isinstance(exc, SinkError):
            return exc
        if isinstance(exc, ApiException):
            status = int(exc.status or 0)
            message = _server_message(exc)
            if status == 0:
                return _Unreachable(f"{where}API server unreachable: {message}", retryable=True)
            if status == 409:
                hint = "" if self.settings.force_conflicts else " (force_conflicts is off)"
                return SinkError(f"{where}{message}{hint}", retryable=False, ref=ref)
            retryable = status in (408, 429) or status >= 500
            return SinkError(f"{where}{message}", retryable=retryable, ref=ref)
        if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
            host = self._client.configuration.host if self._client is not None else "API server"
            return _Unreachable(f"{where}{host} unreachable: {exc}", retryable=True, ref=ref)
        raise exc

    def _call(self, ref: ObjectRef | None, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:
            raise self._translate(exc, ref) from exc

    def _resource(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        resource = self._resources.get(key)
        if resource is not None:
            return resource
        if self._not_served.get(key, 0.0) > time.monotonic():
            raise _NotServed(
                f"{api_version} {kind} is not served by the API server", retryable=True
            )
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        client = self._call(None, self._connect)
        try:
            resource = client.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            # A miss makes the client rediscover every group: remember it for a while.
            self._not_served[key] = time.monotonic() + _NOT_SERVED_TTL
            raise _NotServed(
                f"{api_version} {kind} is not served by the API server (are Istio's CRDs "
                "installed?)",
                retryable=True,
            ) from None
        except Exception as exc:
            raise self._translate(exc, None) from exc
        self._resources[key] = resource
        return resource

    # -- requests ---------------------------------------------------------------------------

    def _get(self, ref: ObjectRef) -> dict[str, Any] | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._resource(ref.api_version, ref.kind)
        try:
            got = self._client.get(
                resource,
                name=ref.name,
                namespace=ref.namespace,
                _request_timeout=self.settings.timeout,
            )
        except NotFoundError:
            return None
        except Exception as exc:
            raise self._translate(exc, ref) from exc
        return dict(got.to_dict())

    def _list(self, selector: str) -> dict[ObjectRef, dict[str, Any]]:
        """Every object of the Istio kinds matching the selector, in all namespaces."""
        out: dict[ObjectRef, dict[str, Any]] = {}
        for api_version, kind in ISTIO_KINDS:
            try:
                resource = self._resource(api_version, kind)
            except _NotServed:
                continue  # nothing of ours can exist there
            token: str | None = None
            while True:
                page = self._call(None, self._lister(resource, selector, token)).to_dict()
                for item in page.get("items") or []:
                    item.setdefault("apiVersion", api_version)
                    item.setdefault("kind", kind)
                    ref = ref_of(item)
                    if ref is not None and is_managed(item):
                        out[ref] = item
                token = (page.get("metadata") or {}).get("continue") or None
                if token is None:
                    break
        return out

    def _lister(self, resource: Any, selector: str, token: str | None) -> Callable[[], Any]:
        def page() -> Any:
            return self._client.get(
                resource,
                label_selector=selector,
                limit=_PAGE,
                _continue=token,
                _request_timeout=self.settings.timeout,
            )

        return page

    def _server_side_apply(self, ref: ObjectRef, obj: Mapping[str, Any], *, dry_run: bool) -> Any:
        resource = self._resource(ref.api_version, ref.kind)
        return self._call(
            ref,
            lambda: self._client.server_side_apply(
                resource,
                body=_plain(obj),
                name=ref.name,
                namespace=ref.namespace,
                field_manager=FIELD_MANAGER,
                force_conflicts=True if self.settings.force_conflicts else None,
                dry_run="All" if dry_run else None,
                _request_timeout=self.settings.timeout,
            ),
        ).to_dict()

    def _delete(self, ref: ObjectRef, owner: str | None) -> bool:
        """Delete if it still carries our label (and belongs to `owner` when given)."""
        from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

        live = self._get(ref)
        if live is None or not is_managed(live):
            return False
        if owner is not None and owner_of(live) != owner:
            return False
        meta = live.get("metadata") or {}
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            # What we just checked is what gets deleted, or nothing is.
            "preconditions": {
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
        }
        try:
            self._client.delete(
                self._resource(ref.api_version, ref.kind),
                name=ref.name,
                namespace=ref.namespace,
                body=options,
                dry_run="All" if self.settings.dry_run else None,
                _request_timeout=self.settings.timeout,
            )
        except NotFoundError:
            return False
        except ConflictError as exc:
            raise SinkError(
                f"{ref} changed while being pruned: {_server_message(exc)}", retryable=True, ref=ref
            ) from exc
        except Exception as exc:
            raise self._translate(exc, ref) from exc
        return True

    # -- operations -----------------------------------------------------------------------------

    def _check_target(
        self, ref: ObjectRef, live: Mapping[str, Any] | None, intent: str, *, take_over: bool
    ) -> None:
        if live is None:
            return
        if not is_managed(live):
            if not self.settings.force_conflicts:
                raise SinkError(
                    f"{ref} exists and is not managed by {MANAGER} (no {MANAGED_BY}={MANAGER} "
                    "label): refusing to take it over (force_conflicts is off)",
                    retryable=False,
                    ref=ref,
                )
            return
        owner = owner_of(live)
        if owner and owner != intent and not take_over:
            raise SinkError(
                f"{ref} belongs to intent {owner!r}, not {intent!r}", retryable=False, ref=ref
            )

    def _write_one(
        self,
        intent: str,
        ref: ObjectRef,
        obj: Mapping[str, Any],
        live: Mapping[str, Any] | None,
        *,
        write: bool,
        take_over: bool,
    ) -> Change:
        self._check_target(ref, live, intent, take_over=take_over)
        result = self._server_side_apply(ref, obj, dry_run=not write or self.settings.dry_run)
        if live is None:
            return Change("create", ref, intent)
        return Change("update" if _view(live) != _view(result) else "unchanged", ref, intent)

    def _apply(self, intent: str, objects: Sequence[Mapping[str, Any]], *, write: bool) -> Plan:
        desired = check_objects(intent, objects, kinds=ISTIO_KINDS)
        selector = f"{MANAGED_SELECTOR},{INTENT}={intent_label(intent)}"
        for ref in desired:
            self._resource(ref.api_version, ref.kind)  # an unserved kind fails before any write
        owned = {ref: o for ref, o in self._list(selector).items() if owner_of(o) == intent}
        changes = []
        for ref, obj in sorted(desired.items()):
            live = owned.get(ref) or self._get(ref)
            changes.append(self._write_one(intent, ref, obj, live, write=write, take_over=False))
        # Stale objects go only once the new ones are in place.
        for ref in sorted(owned.keys() - desired.keys()):
            if not write or self._delete(ref, intent):
                changes.append(Change("delete", ref, intent))
        return make_plan(changes)

    def _sync(self, desired: Mapping[str, Sequence[Mapping[str, Any]]], *, write: bool) -> Plan:
        failed: dict[str, SinkError] = {}
        checked: dict[str, dict[ObjectRef, Mapping[str, Any]]] = {}
        wanted: dict[ObjectRef, str] = {}
        for intent in sorted(desired):
            try:
                objects = check_objects(intent, desired[intent], kinds=ISTIO_KINDS)
                for ref in objects:
                    if ref in wanted:
                        raise SinkError(
                            f"{ref} is rendered by intents {wanted[ref]!r} and {intent!r}",
                            retryable=False,
                            ref=ref,
                        )
            except SinkError as exc:
                failed[intent] = exc
                continue
            checked[intent] = dict(objects)
            wanted.update(dict.fromkeys(objects, intent))
        listed = self._list(MANAGED_SELECTOR)
        changes: list[Change] = []
        for intent, objects in checked.items():
            done: list[Change] = []
            try:
                for ref in objects:
                    self._resource(ref.api_version, ref.kind)
                for ref, obj in sorted(objects.items()):
                    live = listed.get(ref) or self._get(ref)
                    done.append(
                        self._write_one(intent, ref, obj, live, write=write, take_over=True)
                    )
            except _Unreachable:
                raise
            except SinkError as exc:
                # One intent's conflict must not hold back the rest of the cluster.
                failed[intent] = exc
            changes.extend(done)
        for ref, live in sorted(listed.items()):
            owner = owner_of(live)
            if ref in wanted or owner in failed:
                continue
            if not write or self._delete(ref, None):
                changes.append(Change("delete", ref, owner))
        plan = make_plan(changes)
        if failed:
            raise SyncError(failed, plan)
        return plan
