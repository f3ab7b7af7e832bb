"""The supervisor: keeps every configured plugin at its replica count.

It starts each instance as a child process, reads the handshake line for its address, asks
it to Describe itself, and follows its grpc.health.v1 Watch stream. An instance that exits,
or stops SERVING for longer than a grace period, is killed and started again with an
exponential backoff; too many restarts in a window is reported as a crash loop. The
reconciler is told whenever an instance becomes usable (it then gets a full Sync before it
takes work) or stops being usable.

Auxiliary processes (the REST gateway) are kept alive the same way, with the same handshake,
health Watch, backoff and crash-loop report, but they take no intents: no Describe, no Sync,
and the reconciler never hears of them. They are READY as soon as they report SERVING.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tc import serving, tls
from tc._proto.tc.v1 import plugin_pb2, plugin_pb2_grpc
from tc.plugins.sdk import handshake
from tc.server.plugin_config import PluginConfig, PluginConfigError
from tc.server.settings import ControllerSettings

log = logging.getLogger("tc.supervisor")

PLUGIN_SERVICE = plugin_pb2.DESCRIPTOR.services_by_name["PluginService"].full_name
# How long an instance may report NOT_SERVING (or lose its health stream) before it is
# replaced: short blips (a plugin reconnecting to its backend) should not cost a restart.
NOT_SERVING_GRACE_SECONDS = 5.0


class InstanceState(StrEnum):
    STARTING = "starting"
    SYNCING = "syncing"
    READY = "ready"
    NOT_SERVING = "not_serving"
    BACKOFF = "backoff"
    STOPPED = "stopped"


@dataclass(eq=False)
class Instance:
    """One plugin process and what the controller knows of it."""

    plugin: str
    index: int
    id: str
    listen: str
    state: InstanceState = InstanceState.STARTING
    pid: int = 0
    address: str = ""
    restarts: int = 0
    last_error: str = ""
    crash_looping: bool = False
    start_time: float = 0.0
    last_sync_id: str = ""
    # Bumped each time a new process starts, so work for an old process is not credited
    # to the new one.
    incarnation: int = 0
    channel: grpc.aio.Channel | None = None
    stub: plugin_pb2_grpc.PluginServiceAsyncStub | None = None
    restart_times: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    process: asyncio.subprocess.Process | None = None
    restart_requested: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ready(self) -> bool:
        return self.state is InstanceState.READY


@dataclass
class PluginGroup:
    """A configured plugin: its config, what it declared in Describe, and its instances."""

    config: PluginConfig
    instances: list[Instance]
    info: plugin_pb2.DescribeResponse | None = None
    described: asyncio.Event = field(default_factory=asyncio.Event)
    auxiliary: bool = False

    @property
    def name(self) -> str:
        return self.config.name

    def ready_instances(self) -> list[Instance]:
        return [i for i in self.instances if i.ready]


InstanceListener = Callable[[PluginGroup, Instance], None]


class Supervisor:
    """Runner: start() launches every instance; stop() stops them all."""

    def __init__(
        self,
        settings: ControllerSettings,
        configs: list[PluginConfig],
        *,
        on_usable: InstanceListener,
        on_unusable: InstanceListener,
        on_event: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self._settings = settings
        self.groups = [
            PluginGroup(
                config=c,
                instances=[
                    Instance(plugin=c.name, index=i, id=f"{c.name}-{i}", listen=c.listen_address(i))
                    for i in range(c.replicas)
                ],
            )
            for c in configs
        ]
        self._on_usable = on_usable
        self._on_unusable = on_unusable
        self._on_event = on_event or (lambda kind, subject, message: None)
        self.auxiliaries: list[PluginGroup] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def group(self, name: str) -> PluginGroup | None:
        return next((g for g in self.groups if g.name == name), None)

    def add_auxiliary(self, config: PluginConfig) -> PluginGroup:
        """Supervises a process that is not a plugin (see the module docstring); call it
        before start()."""
        if self._tasks:
            raise RuntimeError("add_auxiliary must come before start")
        if any(g.name == config.name for g in [*self.groups, *self.auxiliaries]):
            raise PluginConfigError(f"a plugin or process is already named {config.name!r}")
        group = PluginGroup(
            config=config,
            instances=[
                Instance(
                    plugin=config.name,
                    index=i,
                    id=f"{config.name}-{i}",
                    listen=config.listen_address(i),
                )
                for i in range(config.replicas)
            ],
            auxiliary=True,
        )
        self.auxiliaries.append(group)
        return group

    async def start(self) -> None:
        for group in [*self.groups, *self.auxiliaries]:
            for instance in group.instances:
                self._tasks.append(
                    asyncio.create_task(
                        self._keep(group, instance), name=f"supervise {instance.id}"
                    )
                )

    async def wait_described(self) -> None:
        await asyncio.gather(*(g.described.wait() for g in self.groups))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await asyncio.gather(
            *(self._terminate(i) for g in [*self.groups, *self.auxiliaries] for i in g.instances),
            return_exceptions=True,
        )

    def restart(self, plugin: str, instance_id: str) -> Instance:
        group = self.group(plugin) or next((g for g in self.auxiliaries if g.name == plugin), None)
        instance = (
            next((i for i in group.instances if i.id == instance_id), None) if group else None
        )
        if group is None or instance is None:
            raise KeyError(f"no plugin instance {plugin}/{instance_id}")
        instance.restart_requested.set()
        return instance

    def mark_ready(self, instance: Instance, incarnation: int, sync_id: str) -> bool:
        """Called by the reconciler after a full Sync; False if the process changed meanwhile."""
        if instance.incarnation != incarnation or instance.state is not InstanceState.SYNCING:
            return False
        instance.state = InstanceState.READY
        instance.last_sync_id = sync_id
        instance.last_error = ""
        self._on_event("plugin.instance.ready", instance.id, f"ready at {instance.address}")
        return True

    # -- one instance's life ---------------------------------------------------------------

    async def _keep(self, group: PluginGroup, instance: Instance) -> None:
        while not self._stopping:
            try:
                await self._run_once(group, instance)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                instance.last_error = str(exc) or type(exc).__name__
                log.warning(
                    "plugin instance %s failed: %s",
                    instance.id,
                    instance.last_error,
                    extra={"plugin": group.name, "instance": instance.id},
                )
            await self._terminate(instance)
            was_usable = instance.state in (InstanceState.READY, InstanceState.SYNCING)
            instance.state = InstanceState.BACKOFF
            if was_usable and not group.auxiliary:
                self._on_unusable(group, instance)
            if self._stopping:
                return
            delay = self._restart_delay(instance)
            instance.restarts += 1
            self._on_event(
                "plugin.instance.restarted",
                instance.id,
                f"restart {instance.restarts} in {delay:.2f}s: {instance.last_error}",
            )
            instance.restart_requested.clear()
            await asyncio.sleep(delay)

    def _restart_delay(self, instance: Instance) -> float:
        now = time.monotonic()
        instance.restart_times.append(now)
        window = self._settings.crash_loop_window_seconds
        recent = sum(1 for t in instance.restart_times if now - t <= window)
        instance.crash_looping = recent >= self._settings.crash_loop_restarts
        delay = self._settings.restart_base_seconds * (2.0 ** max(0, recent - 1))
        return min(self._settings.restart_max_seconds, delay)

    def _argv(self, config: PluginConfig) -> list[str]:
        if config.module is not None:
            return [sys.executable, "-m", config.module]
        assert config.command is not None
        return list(config.command)

    def _tls_env(self) -> dict[str, str]:
        files = self._settings.plugin_tls
        if files is None or files.cert_file is None or files.key_file is None:
            return {}
        env = {
            handshake.ENV_TLS_CERT: str(files.cert_file.resolve()),
            handshake.ENV_TLS_KEY: str(files.key_file.resolve()),
        }
        if files.ca_file is not None:
            env[handshake.ENV_TLS_CA] = str(files.ca_file.resolve())
        return env

    def _channel(self, address: str) -> grpc.aio.Channel:
        files = self._settings.plugin_tls
        if files is None:
            return grpc.aio.insecure_channel(address, options=serving.CHANNEL_OPTIONS)
        return tls.secure_aio_channel(
            address,
            files.channel_credentials(),
            serving.CHANNEL_OPTIONS,
            server_name=self._settings.plugin_tls_server_name,
        )

    async def _run_once(self, group: PluginGroup, instance: Instance) -> None:
        config = group.config
        env = {
            **os.environ,
            **config.env,
            handshake.ENV_INSTANCE: instance.id,
            handshake.ENV_PLUGIN_NAME: config.name,
            handshake.ENV_LISTEN: instance.listen,
            handshake.ENV_SETTINGS: handshake.encode_settings(config.settings),
            "TC_LOG_LEVEL": self._settings.log_level,
            **self._tls_env(),
        }
        instance.state = InstanceState.STARTING
        instance.incarnation += 1
        instance.address = ""
        instance.stderr_tail.clear()
        process = await asyncio.create_subprocess_exec(
            *self._argv(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        instance.process = process
        instance.pid = process.pid
        instance.start_time = time.time()
        stderr_reader = asyncio.create_task(self._drain_stderr(instance, process))
        readers = [stderr_reader]
        try:
            try:
                address = await asyncio.wait_for(
                    self._read_handshake(process), self._settings.plugin_start_timeout_seconds
                )
            except RuntimeError as exc:
                # The plugin died before its handshake: its last words say why.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stderr_reader), 2.0)
                tail = " | ".join(list(instance.stderr_tail)[-3:])
                raise RuntimeError(f"{exc}: {tail}" if tail else str(exc)) from None
            readers.append(asyncio.create_task(self._drain_stdout(instance, process)))
            instance.address = address
            instance.channel = self._channel(address)
            instance.stub = plugin_pb2_grpc.PluginServiceStub(instance.channel)
            await self._watch(group, instance, process)
        finally:
            for reader in readers:
                reader.cancel()
            for reader in readers:
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def _read_handshake(self, process: asyncio.subprocess.Process) -> str:
        assert process.stdout is not None
        while True:
            raw = await process.stdout.readline()
            if not raw:
                code = await process.wait()
                raise RuntimeError(f"exited with code {code} before its handshake")
            line = raw.decode(errors="replace")
            parsed = handshake.parse_line(line)
            if parsed is not None:
                return parsed.address
            log.info("%s", line.rstrip())

    async def _drain_stdout(self, instance: Instance, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while raw := await process.stdout.readline():
            log.info(
                "%s",
                raw.decode(errors="replace").rstrip(),
                extra={"plugin": instance.plugin, "instance": instance.id},
            )

    async def _drain_stderr(self, instance: Instance, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        plugin_log = logging.getLogger(f"tc.plugin.{instance.plugin}")
        while raw := await process.stderr.readline():
            line = raw.decode(errors="replace").rstrip()
            instance.stderr_tail.append(line)
            plugin_log.info("%s", line, extra={"plugin": instance.plugin, "instance": instance.id})

    async def _describe(self, group: PluginGroup, instance: Instance) -> None:
        assert instance.stub is not None
        info = await instance.stub.Describe(
            plugin_pb2.DescribeRequest(), timeout=self._settings.plugin_call_timeout_seconds
        )
        if not info.intent_kinds:
            raise RuntimeError("Describe declared no intent kinds")
        if info.fanout_mode == plugin_pb2.FANOUT_MODE_UNSPECIFIED:
            raise RuntimeError("Describe declared no fan-out mode")
        if group.info is None:
            group.info = info
            group.described.set()
        elif (list(group.info.intent_kinds), group.info.fanout_mode, group.info.kind) != (
            list(info.intent_kinds),
            info.fanout_mode,
            info.kind,
        ):
            raise RuntimeError("Describe differs from the plugin's other instances")

    async def _watch(
        self, group: PluginGroup, instance: Instance, process: asyncio.subprocess.Process
    ) -> None:
        """Returns when the instance must be replaced."""
        assert instance.channel is not None
        exited = asyncio.create_task(process.wait())
        health = health_pb2_grpc.HealthStub(instance.channel)
        serving_changes: asyncio.Queue[bool] = asyncio.Queue()

        async def follow_health() -> None:
            while True:
                try:
                    stream = health.Watch(health_pb2.HealthCheckRequest(service=""))
                    async for response in stream:
                        await serving_changes.put(
                            response.status == health_pb2.HealthCheckResponse.SERVING
                        )
                except grpc.aio.AioRpcError as exc:
                    instance.last_error = f"health stream: {exc.code().name}: {exc.details()}"
                await serving_changes.put(False)
                await asyncio.sleep(0.2)

        follower = asyncio.create_task(follow_health())
        restart = asyncio.create_task(instance.restart_requested.wait())
        try:
            not_serving_since: float | None = time.monotonic()
            while True:
                timeout = None
                if not_serving_since is not None:
                    timeout = max(0.0, not_serving_since + self._grace(instance) - time.monotonic())
                change = asyncio.create_task(serving_changes.get())
                done, _ = await asyncio.wait(
                    {exited, change, restart}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if change not in done:
                    change.cancel()
                if exited in done:
                    tail = " | ".join(list(instance.stderr_tail)[-3:])
                    instance.last_error = f"exited with code {exited.result()}" + (
                        f": {tail}" if tail else ""
                    )
                    return
                if restart in done:
                    instance.last_error = "restart requested"
                    return
                if not done:
                    instance.last_error = f"not SERVING for {self._grace(instance):.0f}s"
                    return
                is_serving = change.result()
                if is_serving and not_serving_since is not None and group.auxiliary:
                    not_serving_since = None
                    instance.state = InstanceState.READY
                    instance.last_error = ""
                    self._on_event("process.ready", instance.id, f"ready at {instance.address}")
                elif is_serving and not_serving_since is not None:
                    not_serving_since = None
                    if group.info is None or instance.state is not InstanceState.READY:
                        await self._describe(group, instance)
                    instance.state = InstanceState.SYNCING
                    self._on_usable(group, instance)
                elif not is_serving and not_serving_since is None:
                    not_serving_since = time.monotonic()
                    was_usable = instance.state in (InstanceState.READY, InstanceState.SYNCING)
                    instance.state = InstanceState.NOT_SERVING
                    if was_usable and not group.auxiliary:
                        self._on_unusable(group, instance)
        finally:
            for task in (follower, restart, exited):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _grace(self, instance: Instance) -> float:
        if instance.state is InstanceState.STARTING:
            return self._settings.plugin_start_timeout_seconds
        return NOT_SERVING_GRACE_SECONDS

    async def _terminate(self, instance: Instance) -> None:
        process, instance.process = instance.process, None
        channel, instance.channel = instance.channel, None
        instance.stub = None
        if channel is not None:
            await channel.close()
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self._settings.shutdown_grace_seconds)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if self._stopping:
            instance.state = InstanceState.STOPPED
