"""A test double standing in for the Kubernetes API server, which cannot run here.

It is a real HTTP server on 127.0.0.1 (port 0) speaking just enough of the Kubernetes API
for the `kubernetes` client's DynamicClient to discover, read, server-side apply and
delete the Istio kinds the istio plugin writes, so the Kubernetes sink is tested through
the real client, over real HTTP, with a kubeconfig pointing here:

- discovery: /version, /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version> for
  networking.istio.io/v1 (VirtualService, DestinationRule, ServiceEntry, Gateway) and
  security.istio.io/v1 (AuthorizationPolicy); /openapi/* answers 404.
- GET one object, LIST per namespace or across all, with labelSelector terms `k=v`,
  `k==v`, `k!=v`, `k` and `!k` (set-based selectors answer 400).
- PATCH `application/apply-patch+yaml`: server-side apply with field ownership per
  manager at the granularity of top-level spec keys, label keys and annotation keys. A
  manager applying a different value to a field another manager owns gets 409 Conflict
  ("conflict with "<manager>" ...") unless force=true, which takes the field over; fields
  a manager stops applying are removed unless someone else owns them; an apply that
  changes nothing keeps the resourceVersion. PATCH `application/merge-patch+json` and POST
  are Update operations (they take the fields they set without conflict), so tests can
  play another client.
- DELETE one object (DeleteOptions preconditions on uid and resourceVersion: 409 on
  mismatch) or a collection by labelSelector.
- dryRun=All on every write computes the answer and stores nothing.
- uid, creationTimestamp, generation (bumped on spec changes), managedFields, and a
  resourceVersion from one counter bumped on every write, as etcd's revision is.
- a bearer token is required when one is set; `fail_next` makes the next requests answer
  an error status, `requests` records what the client sent.

What it does not do: watch, namespaces as objects, admission, schema validation, field
ownership below a top-level spec key, status subresources.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


ISTIO_KINDS = (
    Kind("networking.istio.io", "v1", "VirtualService", "virtualservices"),
    Kind("networking.istio.io", "v1", "DestinationRule", "destinationrules"),
    Kind("networking.istio.io", "v1", "ServiceEntry", "serviceentries"),
    Kind("networking.istio.io", "v1", "Gateway", "gateways"),
    Kind("security.istio.io", "v1", "AuthorizationPolicy", "authorizationpolicies"),
)

Field = tuple[str, ...]
"""('spec', key) | ('metadata', 'labels', key) | ('metadata', 'annotations', key) | (key,)."""


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any


@dataclass
class _Stored:
    obj: dict[str, Any]
    owners: dict[tuple[str, str], set[Field]] = field(default_factory=dict)
    """(manager, operation) -> fields, operation being 'Apply' or 'Update'."""


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields(obj: dict[str, Any]) -> dict[Field, Any]:
    """The fields an object sets, with their values, at the double's granularity."""
    out: dict[Field, Any] = {}
    metadata = obj.get("metadata") or {}
    for part in ("labels", "annotations"):
        for key, value in (metadata.get(part) or {}).items():
            out[("metadata", part, key)] = value
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata", "status"):
            continue
        if key == "spec" and isinstance(value, dict):
            for sub, subvalue in value.items():
                out[("spec", sub)] = subvalue
        else:
            out[(key,)] = value
    return out


def _get(obj: dict[str, Any], path: Field) -> Any:
    node: Any = obj
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set(obj: dict[str, Any], path: Field, value: Any) -> None:
    node = obj
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = copy.deepcopy(value)


def _unset(obj: dict[str, Any], path: Field) -> None:
    parents = [obj]
    node = obj
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            return
        node = child
        parents.append(node)
    node.pop(path[-1], None)
    # Drop maps the removal left empty (labels, annotations, spec), as the server prunes them.
    for depth in range(len(path) - 1, 0, -1):
        parent, key = parents[depth - 1], path[depth - 1]
        if parent.get(key) == {} and (depth > 1 or key == "spec"):
            del parent[key]


def _dotted(path: Field) -> str:
    return "." + ".".join(path)


def _fields_v1(paths: set[Field]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in sorted(paths):
        node = out
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return out


def _selector(text: str) -> list[tuple[str, str, str]]:
    terms = []
    for raw in filter(None, (t.strip() for t in text.split(","))):
        if " in " in raw or " notin " in raw or "(" in raw:
            raise ApiError(400, "BadRequest", f"set-based selector not supported: {raw}")
        if "!=" in raw:
            key, value = raw.split("!=", 1)
            terms.append(("!=", key.strip(), value.strip()))
        elif "==" in raw:
            key, value = raw.split("==", 1)
            terms.append(("=", key.strip(), value.strip()))
        elif "=" in raw:
            key, value = raw.split("=", 1)
            terms.append(("=", key.strip(), value.strip()))
        elif raw.startswith("!"):
            terms.append(("!", raw[1:].strip(), ""))
        else:
            terms.append(("exists", raw, ""))
    return terms


def _matches(labels: dict[str, str], terms: list[tuple[str, str, str]]) -> bool:
    for op, key, value in terms:
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "!" and key in labels:
            return False
        if op == "exists" and key not in labels:
            return False
    return True


class KubeApiServerDouble:
    """See the module docstring. Use as a context manager, or start() and stop()."""

    def __init__(
        self, *, token: str | None = "double-token", kinds: tuple[Kind, ...] = ISTIO_KINDS
    ):
        self.token = token
        self.kinds = kinds
        self.requests: list[Recorded] = []
        self._by_plural = {(k.group, k.version, k.plural): k for k in kinds}
        self._objects: dict[tuple[str, str, str, str], _Stored] = {}
        self._revision = 0
        self._lock = threading.Lock()
        self._failures: list[tuple[int, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> KubeApiServerDouble:
        double = self

        class Handler(_Handler):
            server_double = double

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kube-apiserver-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections, as a server going away does."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> KubeApiServerDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def write_kubeconfig(
        self, path: Path, *, token: str | None = None, context: str = "double"
    ) -> Path:
        """A kubeconfig whose `context` points at this server, with the bearer token."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "double", "cluster": {"server": self.url}}],
            "users": [{"name": "tc", "user": {"token": token or self.token or "none"}}],
            "contexts": [{"name": context, "context": {"cluster": "double", "user": "tc"}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # -- direct access for tests -----------------------------------------------------------

    def _kind_of(self, api_version: str, kind: str) -> Kind:
        for k in self.kinds:
            if k.api_version == api_version and k.kind == kind:
                return k
        raise KeyError(f"{api_version} {kind}")

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        k = self._kind_of(api_version, kind)
        with self._lock:
            stored = self._objects.get((k.group, k.plural, namespace, name))
            return self._publish(stored) if stored else None

    def objects(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            items = [self._publish(s) for _, s in sorted(self._objects.items())]
        yield from items

    def create(self, obj: dict[str, Any], *, manager: str = "kubectl-create") -> dict[str, Any]:
        """Store an object as another client would (an Update by `manager`)."""
        k = self._kind_of(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        with self._lock:
            return self._create(k, meta["namespace"], obj, manager, dry_run=False)

    def apply_as(self, manager: str, obj: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
        """Server-side apply `obj` as another field manager would (raises ApiError on 409)."""
        k = self._kind_of(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        with self._lock:
            _, result = self.apply(
                k, meta["namespace"], meta["name"], obj, manager, force=force, dry_run=False
            )
            return result

    def merge_patch_as(
        self, manager: str, api_version: str, kind: str, *, namespace: str, name: str, patch: Any
    ) -> dict[str, Any]:
        """A JSON merge patch (an Update operation) as another client would send it."""
        k = self._kind_of(api_version, kind)
        with self._lock:
            return self.merge_patch(k, namespace, name, patch, manager, dry_run=False)

    def fail_next(
        self, code: int = 503, count: int = 1, reason: str = "ServiceUnavailable"
    ) -> None:
        """The next `count` resource requests (not discovery) answer `code`."""
        with self._lock:
            self._failures.extend([(code, reason)] * count)

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")]

    # -- discovery ----------------------------------------------------------------------------

    def _groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for k in self.kinds:
            versions = groups.setdefault(k.group, [])
            if k.version not in versions:
                versions.append(k.version)
        return groups

    def _group(self, name: str, versions: list[str]) -> dict[str, Any]:
        listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": name,
            "versions": listed,
            "preferredVersion": listed[0],
        }

    def discovery(self, parts: list[str]) -> dict[str, Any]:
        if parts == ["version"]:
            return {
                "major": "1",
                "minor": "31",
                "gitVersion": "v1.31.0-double",
                "platform": "linux/amd64",
            }
        if parts == ["api"]:
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
            }
        if parts == ["api", "v1"]:
            return {"kind": "APIResourceList", "groupVersion": "v1", "resources": []}
        groups = self._groups()
        if parts == ["apis"]:
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [self._group(name, versions) for name, versions in groups.items()],
            }
        if len(parts) == 2 and parts[1] in groups:
            return self._group(parts[1], groups[parts[1]])
        if len(parts) == 3 and parts[2] in groups.get(parts[1], []):
            group, version = parts[1], parts[2]
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{group}/{version}",
                "resources": [
                    {
                        "name": k.plural,
                        "singularName": k.kind.lower(),
                        "namespaced": True,
                        "kind": k.kind,
                        "verbs": [
                            "delete",
                            "deletecollection",
                            "get",
                            "list",
                            "patch",
                            "create",
                            "update",
                            "watch",
                        ],
                        "categories": ["istio-io"],
                    }
                    for k in self.kinds
                    if (k.group, k.version) == (group, version)
                ],
            }
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # -- resources ------------------------------------------------------------------------------

    def route(self, parts: list[str]) -> tuple[Kind, str | None, str | None]:
        """(kind, namespace, name) of /apis/<g>/<v>[/namespaces/<ns>]/<plural>[/<name>]."""
        if len(parts) < 4 or parts[0] != "apis":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        group, version, rest = parts[1], parts[2], parts[3:]
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if len(rest) not in (1, 2) or (group, version, rest[0]) not in self._by_plural:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else None
        return self._by_plural[(group, version, rest[0])], namespace, name

    def _not_found(self, k: Kind, name: str) -> ApiError:
        return ApiError(
            404,
            "NotFound",
            f'{k.plural}.{k.group} "{name}" not found',
            name=name,
            group=k.group,
            kind=k.plural,
        )

    def _bump(self) -> str:
        self._revision += 1
        return str(self._revision)

    def _publish(self, stored: _Stored) -> dict[str, Any]:
        """The object with managedFields rendered from the ownership sets."""
        obj = copy.deepcopy(stored.obj)
        obj["metadata"]["managedFields"] = [
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": obj["apiVersion"],
                "time": stored.obj["metadata"].get("creationTimestamp", _now()),
                "fieldsType": "FieldsV1",
                "fieldsV1": _fields_v1(paths),
            }
            for (manager, operation), paths in sorted(stored.owners.items())
            if paths
        ]
        return obj

    def list(self, k: Kind, namespace: str | None, selector: str) -> dict[str, Any]:
        terms = _selector(selector)
        items = [
            self._publish(s)
            for (group, plural, ns, _), s in sorted(self._objects.items())
            if (group, plural) == (k.group, k.plural)
            and (namespace is None or ns == namespace)
            and _matches(s.obj["metadata"].get("labels") or {}, terms)
        ]
        return {
            "apiVersion": k.api_version,
            "kind": f"{k.kind}List",
            "metadata": {"resourceVersion": str(self._revision)},
            "items": items,
        }

    def read(self, k: Kind, namespace: str, name: str) -> dict[str, Any]:
        stored = self._objects.get((k.group, k.plural, namespace, name))
        if stored is None:
            raise self._not_found(k, name)
        return self._publish(stored)

    def _check_body(self, k: Kind, namespace: str, name: str | None, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be an object")
        if body.get("apiVersion") != k.api_version or body.get("kind") != k.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the body is {body.get('apiVersion')} {body.get('kind')}, the path is "
                f"{k.api_version} {k.kind}",
            )
        meta = body.setdefault("metadata", {})
        if name is not None and meta.get("name") != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the URL")
        if meta.setdefault("namespace", namespace) != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the URL")
        return body

    def _store(self, k: Kind, stored: _Stored, *, spec_changed: bool, dry_run: bool) -> None:
        meta = stored.obj["metadata"]
        if spec_changed:
            meta["generation"] = int(meta.get("generation", 0)) + 1
        if not dry_run:
            meta["resourceVersion"] = self._bump()
            self._objects[(k.group, k.plural, meta["namespace"], meta["name"])] = stored

    def _create(
        self, k: Kind, namespace: str, body: Any, manager: str, *, dry_run: bool
    ) -> dict[str, Any]:
        body = self._check_body(k, namespace, None, copy.deepcopy(body))
        name = body["metadata"].get("name")
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        if (k.group, k.plural, namespace, name) in self._objects:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{k.plural}.{k.group} "{name}" already exists',
                name=name,
                group=k.group,
                kind=k.plural,
            )
        obj = self._fresh(body)
        stored = _Stored(obj, {(manager, "Update"): set(_fields(obj))})
        self._store(k, stored, spec_changed=True, dry_run=dry_run)
        return self._publish(stored)

    def _fresh(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = {key: copy.deepcopy(value) for key, value in body.items() if key != "status"}
        meta = obj["metadata"]
        for server_set in ("uid", "resourceVersion", "generation", "managedFields"):
            meta.pop(server_set, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["resourceVersion"] = ""
        return obj

    def apply(
        self,
        k: Kind,
        namespace: str,
        name: str,
        body: Any,
        manager: str | None,
        *,
        force: bool,
        dry_run: bool,
    ) -> tuple[int, dict[str, Any]]:
        if not manager:
            raise ApiError(400, "BadRequest", "PATCH, fieldManager is required for apply requests")
        body = self._check_body(k, namespace, name, copy.deepcopy(body))
        applied = _fields(body)
        live = self._objects.get((k.group, k.plural, namespace, name))
        if live is None:
            obj = self._fresh({"apiVersion": k.api_version, "kind": k.kind, "metadata": {}})
            obj["metadata"].update(name=name, namespace=namespace)
            for path, value in applied.items():
                _set(obj, path, value)
            stored = _Stored(obj, {(manager, "Apply"): set(applied)})
            self._store(k, stored, spec_changed=True, dry_run=dry_run)
            return 201, self._publish(stored)

        owners = {key: set(paths) for key, paths in live.owners.items()}
        conflicts: dict[str, list[Field]] = {}
        for path, value in applied.items():
            for (other, _operation), paths in owners.items():
                if other == manager or path not in paths:
                    continue
                if _get(live.obj, path) != value:
                    conflicts.setdefault(other, []).append(path)
        if conflicts and not force:
            count = sum(len(paths) for paths in conflicts.values())
            lines = []
            causes = []
            for other, fields in sorted(conflicts.items()):
                for path in sorted(fields):
                    causes.append(
                        {
                            "type": "FieldManagerConflict",
                            "message": f'conflict with "{other}" using {k.api_version}',
                            "field": _dotted(path),
                        }
                    )
                if len(fields) == 1 and count == 1:
                    lines.append(
                        f'conflict with "{other}" using {k.api_version}: {_dotted(fields[0])}'
                    )
                else:
                    listed = "\n".join(f"- {_dotted(p)}" for p in sorted(fields))
                    lines.append(f'conflicts with "{other}" using {k.api_version}:\n{listed}')
            noun = "conflict" if count == 1 else "conflicts"
            raise ApiError(
                409,
                "Conflict",
                f"Apply failed with {count} {noun}: " + "\n".join(lines),
                name=name,
                group=k.group,
                kind=k.plural,
                causes=causes,
            )
        if force:
            for (other, _), paths in owners.items():
                if other != manager:
                    paths.difference_update(applied)

        obj = copy.deepcopy(live.obj)
        for path, value in applied.items():
            _set(obj, path, value)
        before = owners.get((manager, "Apply"), set())
        owned_by_others = set().union(
            *(paths for (other, op), paths in owners.items() if (other, op) != (manager, "Apply"))
        )
        for path in before - set(applied) - owned_by_others:
            _unset(obj, path)
        owners[(manager, "Apply")] = set(applied)
        owners = {key: paths for key, paths in owners.items() if paths}

        if obj == live.obj and owners == live.owners:
            return 200, self._publish(live)  # a no-op apply is not a write
        stored = _Stored(obj, owners)
        self._store(
            k, stored, spec_changed=obj.get("spec") != live.obj.get("spec"), dry_run=dry_run
        )
        return 200, self._publish(stored)

    def merge_patch(
        self, k: Kind, namespace: str, name: str, patch: Any, manager: str, *, dry_run: bool
    ) -> dict[str, Any]:
        live = self._objects.get((k.group, k.plural, namespace, name))
        if live is None:
            raise self._not_found(k, name)
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "a merge patch must be an object")
        obj = copy.deepcopy(live.obj)
        owners = {key: set(paths) for key, paths in live.owners.items()}
        changed = set()
        cleared = set()
        for path, value in _fields(patch).items():
            if value is None:
                _unset(obj, path)
                cleared.add(path)
            else:
                _set(obj, path, value)
                changed.add(path)
        for key, paths in owners.items():
            if key != (manager, "Update"):
                paths.difference_update(changed)
            paths.difference_update(cleared)
        owners.setdefault((manager, "Update"), set()).update(changed)
        owners = {key: paths for key, paths in owners.items() if paths}
        if obj == live.obj and owners == live.owners:
            return self._publish(live)
        stored = _Stored(obj, owners)
        self._store(
            k, stored, spec_changed=obj.get("spec") != live.obj.get("spec"), dry_run=dry_run
        )
        return self._publish(stored)

    def delete(
        self, k: Kind, namespace: str, name: str, options: Any, *, dry_run: bool
    ) -> dict[str, Any]:
        stored = self._objects.get((k.group, k.plural, namespace, name))
        if stored is None:
            raise self._not_found(k, name)
        meta = stored.obj["metadata"]
        preconditions = (options or {}).get("preconditions") or {}
        for key in ("uid", "resourceVersion"):
            want = preconditions.get(key)
            if want is not None and want != meta.get(key):
                label = "UID" if key == "uid" else "ResourceVersion"
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {k.plural}.{k.group} "{name}": '
                    f"Precondition failed: {label} in precondition: {want}, {label} in "
                    f"object meta: {meta.get(key)}",
                    name=name,
                    group=k.group,
                    kind=k.plural,
                )
        if not dry_run:
            del self._objects[(k.group, k.plural, namespace, name)]
            self._bump()
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": k.group, "kind": k.plural, "uid": meta["uid"]},
        }

    def delete_collection(
        self, k: Kind, namespace: str | None, selector: str, *, dry_run: bool
    ) -> dict[str, Any]:
        listed = self.list(k, namespace, selector)
        for item in listed["items"]:
            meta = item["metadata"]
            self.delete(k, meta["namespace"], meta["name"], None, dry_run=dry_run)
        return listed

    # -- dispatch -------------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        split = urlsplit(target)
        parts = [p for p in split.path.split("/") if p]
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        content_type = headers.get("content-type", "").split(";")[0].strip()
        body: Any = None
        if raw:
            try:
                body = yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw)
            except (ValueError, yaml.YAMLError) as exc:
                raise ApiError(400, "BadRequest", f"cannot parse the body: {exc}") from exc
        with self._lock:
            self.requests.append(Recorded(method, split.path, query, content_type, body))
            if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if parts and parts[0] == "openapi":
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if method == "GET" and (len(parts) <= 3 or parts[0] != "apis"):
                return 200, self.discovery(parts)
            k, namespace, name = self.route(parts)
            if self._failures:
                code, reason = self._failures.pop(0)
                raise ApiError(code, reason, f"injected failure: {reason}")
            dry_run = query.get("dryRun") == "All"
            if method == "GET":
                if name is None:
                    return 200, self.list(k, namespace, query.get("labelSelector", ""))
                assert namespace is not None
                return 200, self.read(k, namespace, name)
            if namespace is None:
                raise ApiError(
                    405, "MethodNotAllowed", "namespaced kinds are written per namespace"
                )
            if method == "POST" and name is None:
                manager = query.get("fieldManager", "unknown")
                return 201, self._create(k, namespace, body, manager, dry_run=dry_run)
            if method == "PATCH" and name is not None:
                if content_type == "application/apply-patch+yaml":
                    force = query.get("force", "false").lower() in ("true", "1", "t")
                    return self.apply(
                        k,
                        namespace,
                        name,
                        body,
                        query.get("fieldManager"),
                        force=force,
                        dry_run=dry_run,
                    )
                if content_type == "application/merge-patch+json":
                    manager = query.get("fieldManager", "unknown")
                    return 200, self.merge_patch(k, namespace, name, body, manager, dry_run=dry_run)
                raise ApiError(415, "UnsupportedMediaType", f"unsupported patch: {content_type}")
            if method == "DELETE":
                if name is None:
                    selector = query.get("labelSelector", "")
                    return 200, self.delete_collection(k, namespace, selector, dry_run=dry_run)
                return 200, self.delete(k, namespace, name, body, dry_run=dry_run)
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported by the double")


class _Handler(BaseHTTPRequestHandler):
    server_double: KubeApiServerDouble
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3's pool expects

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server_double._lock:
            self.server_double._connections.add(self.connection)

    def finish(self) -> None:
        with self.server_double._lock:
            self.server_double._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            code, payload = self.server_double.handle(self.command, self.path, headers, raw)
        except ApiError as exc:
            code, payload = exc.code, exc.status()
        data = json.dumps(payload).encode()
        self.send_response(code, HTTPStatus(code).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
