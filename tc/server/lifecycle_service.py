"""tc.v1.LifecycleService: the controller's status, plugin instances and events.

GetStatus, RestartPluginInstance, Drain, WatchEvents and the probes Healthz and Readyz are
served here, and Heartbeat and ListMicroservices are the heartbeat monitor's
(tc.server.heartbeat): a push for an endpoint the monitor does not check is NOT_FOUND
naming it, so a micro-service with a wrong address or port learns so at once.

Drain hands over to the controller (Controller.drain), which owns the draining flag that
the intent service and health follow; this module only turns the request's timeout into a
wait that ends before the caller's deadline, so the caller gets a report, not an error.

The probes exist for HTTP load balancers and Kubernetes, which reach them through the REST
gateway as GET /healthz and GET /readyz (gRPC clients keep grpc.health.v1): Readyz refuses
with UNAVAILABLE, which the gateway turns into 503, and its message names what is not ready.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from tc._proto.tc.v1 import lifecycle_pb2, lifecycle_pb2_grpc
from tc.server.errors import RequestError, invalid, mapped
from tc.server.events import EventBus
from tc.server.heartbeat.monitor import HeartbeatMonitor, UnknownEndpoint
from tc.server.heartbeat.state import EndpointState, Health
from tc.server.heartbeat.targets import Target
from tc.server.intent_service import decode_page_token, encode_page_token
from tc.server.store import Store, StoreError
from tc.server.supervisor import Instance, InstanceState, PluginGroup, Supervisor

Context = grpc.aio.ServicerContext[Any, Any]


class DrainFn(Protocol):
    """Controller.drain: start draining; with `wait`, wait up to `timeout` seconds."""

    def __call__(self, *, wait: bool, timeout: float) -> Awaitable[lifecycle_pb2.DrainResponse]: ...


DEFAULT_DRAIN_TIMEOUT_SECONDS = 60.0
# Answer this long before the caller's deadline: the report of what is left must arrive
# before the client gives up on the call.
_DEADLINE_MARGIN_SECONDS = 0.5

_STATES = {
    InstanceState.STARTING: lifecycle_pb2.INSTANCE_STATE_STARTING,
    InstanceState.SYNCING: lifecycle_pb2.INSTANCE_STATE_SYNCING,
    InstanceState.READY: lifecycle_pb2.INSTANCE_STATE_READY,
    InstanceState.NOT_SERVING: lifecycle_pb2.INSTANCE_STATE_NOT_SERVING,
    InstanceState.BACKOFF: lifecycle_pb2.INSTANCE_STATE_BACKOFF,
    InstanceState.STOPPED: lifecycle_pb2.INSTANCE_STATE_STOPPED,
}


def _timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    if seconds:
        ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def instance_status(instance: Instance) -> lifecycle_pb2.PluginInstanceStatus:
    return lifecycle_pb2.PluginInstanceStatus(
        id=instance.id,
        pid=instance.pid,
        address=instance.address,
        state=_STATES[instance.state],
        restarts=instance.restarts,
        last_error=instance.last_error,
        crash_looping=instance.crash_looping,
        start_time=_timestamp(instance.start_time),
        last_sync_id=instance.last_sync_id,
    )


def _group_status(group: PluginGroup) -> lifecycle_pb2.PluginKindStatus:
    info = group.info
    return lifecycle_pb2.PluginKindStatus(
        name=group.name,
        kind=info.kind if info else "",
        intent_kinds=list(info.intent_kinds) if info else [],
        fanout_mode=info.fanout_mode if info else 0,  # type: ignore[arg-type]
        replicas=group.config.replicas,
        ready_replicas=len(group.ready_instances()),
        instances=[instance_status(i) for i in group.instances],
    )


MAX_HEARTBEAT_TTL_SECONDS = 3600.0
DEFAULT_MICROSERVICES_PAGE = 1000
MAX_MICROSERVICES_PAGE = 5000


def _endpoint_after(token: str) -> tuple[str, str, int]:
    """The (service, address, port) a page token says the previous page ended with."""
    if not token:
        return ("", "", -1)
    service, _, rest = decode_page_token(token).partition("\n")
    address, _, port = rest.partition("\n")
    if not port.isdigit():
        raise invalid("page_token", "is not a token from a previous response")
    return (service, address, int(port))


_HEALTH = {
    Health.UNKNOWN: lifecycle_pb2.ENDPOINT_HEALTH_UNKNOWN,
    Health.HEALTHY: lifecycle_pb2.ENDPOINT_HEALTH_HEALTHY,
    Health.UNHEALTHY: lifecycle_pb2.ENDPOINT_HEALTH_UNHEALTHY,
}


def _heartbeat_ttl(request: lifecycle_pb2.HeartbeatRequest) -> float | None:
    if not request.HasField("ttl"):
        return None
    ttl = request.ttl.seconds + request.ttl.nanos / 1e9
    if request.ttl.nanos < 0 or not 0 < ttl <= MAX_HEARTBEAT_TTL_SECONDS:
        raise invalid("ttl", f"must be more than 0 and at most {MAX_HEARTBEAT_TTL_SECONDS:.0f}s")
    return ttl


def _duration(seconds: float | None) -> Duration | None:
    if seconds is None:
        return None
    out = Duration()
    out.FromNanoseconds(int(seconds * 1e9))
    return out


def _microservice(target: Target, state: EndpointState) -> lifecycle_pb2.Microservice:
    return lifecycle_pb2.Microservice(
        service=target.service,
        address=target.address,
        port=target.port,
        health=_HEALTH[state.health],
        last_probe_time=_timestamp(state.last_probe_time) if state.last_probe_time else None,
        last_latency=_duration(state.last_latency),
        consecutive_failures=state.consecutive_failures,
        last_transition_time=(
            _timestamp(state.last_transition_time) if state.last_transition_time else None
        ),
        last_error=state.last_error,
    )


def _unimplemented(message: str) -> RequestError:
    """An RPC whose behaviour comes with a later issue: a client can tell it from a failure."""
    return RequestError(grpc.StatusCode.UNIMPLEMENTED, message)


class LifecycleService(lifecycle_pb2_grpc.LifecycleServiceServicer):
    def __init__(
        self,
        supervisor: Supervisor,
        events: EventBus,
        controller_status: Callable[[], lifecycle_pb2.ControllerStatus],
        *,
        store: Store,
        orchestrator_status: Callable[[], lifecycle_pb2.OrchestratorStatus] | None = None,
        drain: DrainFn | None = None,
        heartbeats: HeartbeatMonitor | None = None,
    ) -> None:
        self._heartbeats = heartbeats
        self._supervisor = supervisor
        self._events = events
        self._controller_status = controller_status
        self._store = store
        self._drain = drain
        self._orchestrator_status = orchestrator_status or (
            lambda: lifecycle_pb2.OrchestratorStatus(
                state=lifecycle_pb2.REGISTRATION_STATE_DISABLED
            )
        )

    @mapped
    async def GetStatus(
        self, request: lifecycle_pb2.GetStatusRequest, context: Context
    ) -> lifecycle_pb2.GetStatusResponse:
        return lifecycle_pb2.GetStatusResponse(
            controller=self._controller_status(),
            plugins=[_group_status(g) for g in self._supervisor.groups],
            orchestrator=self._orchestrator_status(),
            auxiliary_processes=[_group_status(g) for g in self._supervisor.auxiliaries],
        )

    @mapped
    async def Healthz(
        self, request: lifecycle_pb2.HealthzRequest, context: Context
    ) -> lifecycle_pb2.HealthzResponse:
        return lifecycle_pb2.HealthzResponse(status="ok")

    @mapped
    async def Readyz(
        self, request: lifecycle_pb2.ReadyzRequest, context: Context
    ) -> lifecycle_pb2.ReadyzResponse:
        checks: list[str] = []
        problems: list[str] = []
        for group in self._supervisor.groups:
            ready = len(group.ready_instances())
            line = f"plugin {group.name}: {ready}/{group.config.replicas} ready"
            (checks if ready else problems).append(line)
        try:
            await self._store.check_writable()
        except StoreError as exc:
            problems.append(f"store: not writable: {exc}")
        else:
            checks.append("store: writable")
        if problems:
            raise RequestError(grpc.StatusCode.UNAVAILABLE, "not ready: " + "; ".join(problems))
        return lifecycle_pb2.ReadyzResponse(status="ok", checks=checks)

    @mapped
    async def RestartPluginInstance(
        self, request: lifecycle_pb2.RestartPluginInstanceRequest, context: Context
    ) -> lifecycle_pb2.RestartPluginInstanceResponse:
        if not request.plugin:
            raise invalid("plugin", "required")
        if not request.instance:
            raise invalid("instance", "required")
        try:
            instance = self._supervisor.restart(request.plugin, request.instance)
        except KeyError as exc:
            raise RequestError(grpc.StatusCode.NOT_FOUND, str(exc.args[0])) from None
        return lifecycle_pb2.RestartPluginInstanceResponse(instance=instance_status(instance))

    @mapped
    async def Heartbeat(
        self, request: lifecycle_pb2.HeartbeatRequest, context: Context
    ) -> lifecycle_pb2.HeartbeatResponse:
        if self._heartbeats is None:
            raise _unimplemented("this server runs no heartbeat monitor")
        if not request.service:
            raise invalid("service", "required: the service intent name")
        if not request.address:
            raise invalid("address", "required: the endpoint's address as in the service intent")
        if not 1 <= request.port <= 65535:
            raise invalid("port", "must be 1..65535: the endpoint's port as in the service intent")
        ttl = _heartbeat_ttl(request)
        try:
            self._heartbeats.push(request.service, request.address, request.port, ttl)
        except UnknownEndpoint as exc:
            raise RequestError(grpc.StatusCode.NOT_FOUND, str(exc)) from exc
        return lifecycle_pb2.HeartbeatResponse()

    @mapped
    async def ListMicroservices(
        self, request: lifecycle_pb2.ListMicroservicesRequest, context: Context
    ) -> lifecycle_pb2.ListMicroservicesResponse:
        if self._heartbeats is None:
            raise _unimplemented("this server runs no heartbeat monitor")
        if not 0 <= request.page_size <= MAX_MICROSERVICES_PAGE:
            raise invalid("page_size", f"must be 0..{MAX_MICROSERVICES_PAGE}")
        size = request.page_size or DEFAULT_MICROSERVICES_PAGE
        after = _endpoint_after(request.page_token)
        listed = self._heartbeats.endpoints(request.service)
        found = [(t, s) for t, s in listed if (t.service, t.address, t.port) > after]
        page, more = found[:size], len(found) > size
        last = page[-1][0] if page else None
        token = f"{last.service}\n{last.address}\n{last.port}" if more and last else ""
        return lifecycle_pb2.ListMicroservicesResponse(
            microservices=[_microservice(target, state) for target, state in page],
            next_page_token=encode_page_token(token) if token else "",
        )

    @mapped
    async def Drain(
        self, request: lifecycle_pb2.DrainRequest, context: Context
    ) -> lifecycle_pb2.DrainResponse:
        if self._drain is None:
            raise _unimplemented("this server cannot drain; send SIGTERM")
        timeout = DEFAULT_DRAIN_TIMEOUT_SECONDS
        if request.HasField("timeout"):
            given = request.timeout.ToTimedelta().total_seconds()
            if given < 0:
                raise invalid("timeout", "must not be negative")
            if given > 0:
                timeout = given
        remaining = context.time_remaining()
        if remaining is not None:
            timeout = max(0.0, min(timeout, remaining - _DEADLINE_MARGIN_SECONDS))
        return await self._drain(wait=request.wait, timeout=timeout)

    async def WatchEvents(
        self, request: lifecycle_pb2.WatchEventsRequest, context: Context
    ) -> AsyncIterator[lifecycle_pb2.WatchEventsResponse]:
        wanted = set(request.types)
        queue = self._events.subscribe()
        # Headers go out once the subscription exists, so a client that waits for them
        # (tcctl events) knows every later event reaches it, without a sleep.
        await context.send_initial_metadata(())
        try:
            while True:
                event = await queue.get()
                if wanted and event.type not in wanted:
                    continue
                yield lifecycle_pb2.WatchEventsResponse(
                    type=event.type,
                    subject=event.subject,
                    message=event.message,
                    time=_timestamp(event.time),
                    attributes=dict(event.attributes),
                )
        finally:
            self._events.unsubscribe(queue)
