"""Serves a Plugin as tc.v1.PluginService, with health, reflection and the handshake.

`PluginServer` is the runner (start/stop) used in-process by tests; `run()` is the process
entry point: it reads what the supervisor passed in the environment, prints the handshake
line, and exits cleanly on SIGTERM/SIGINT or when the controller's end of stdin closes
(the controller died: an orphaned plugin must not hold its port).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from tc import serving, tls
from tc._proto.tc.v1 import plugin_pb2, plugin_pb2_grpc
from tc.plugins.sdk import handshake, logs
from tc.plugins.sdk.plugin import Plugin

log = logging.getLogger("tc.plugin")

SERVICE_NAME = plugin_pb2.DESCRIPTOR.services_by_name["PluginService"].full_name


def _check_count(what: str, got: int, want: int) -> None:
    if got != want:
        raise RuntimeError(f"plugin returned {got} results for {want} intents in {what}")


class _Servicer(plugin_pb2_grpc.PluginServiceServicer):
    def __init__(self, plugin: Plugin) -> None:
        self._plugin = plugin

    async def Describe(
        self, request: plugin_pb2.DescribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> plugin_pb2.DescribeResponse:
        info = self._plugin.describe()
        return plugin_pb2.DescribeResponse(
            kind=info.kind,
            version=info.version,
            intent_kinds=list(info.intent_kinds),
            fanout_mode=info.fanout_mode,
            endpoint_health=info.endpoint_health,
        )

    async def Apply(
        self, request: plugin_pb2.ApplyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> plugin_pb2.ApplyResponse:
        if request.endpoint_health:
            self._plugin.note_endpoint_health(request.endpoint_health, replace_all=False)
        results = await self._plugin.apply(request.intents, request.references)
        _check_count("Apply", len(results), len(request.intents))
        return plugin_pb2.ApplyResponse(results=results)

    async def Remove(
        self, request: plugin_pb2.RemoveRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> plugin_pb2.RemoveResponse:
        results = await self._plugin.remove(request.intents, request.references)
        _check_count("Remove", len(results), len(request.intents))
        return plugin_pb2.RemoveResponse(results=results)

    async def Sync(
        self, request: plugin_pb2.SyncRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> plugin_pb2.SyncResponse:
        self._plugin.note_endpoint_health(request.endpoint_health, replace_all=True)
        results, pruned = await self._plugin.sync(request.intents, request.sync_id)
        _check_count("Sync", len(results), len(request.intents))
        return plugin_pb2.SyncResponse(results=results, pruned=pruned)

    async def SetEndpointHealth(
        self,
        request: plugin_pb2.SetEndpointHealthRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> plugin_pb2.SetEndpointHealthResponse:
        try:
            results = await self._plugin.set_endpoint_health(request.services, request.intents)
        except NotImplementedError as exc:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, str(exc))
        _check_count("SetEndpointHealth", len(results), len(request.intents))
        return plugin_pb2.SetEndpointHealthResponse(results=results)

    async def GetState(
        self, request: plugin_pb2.GetStateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> plugin_pb2.GetStateResponse:
        state = await self._plugin.get_state()
        return plugin_pb2.GetStateResponse(
            intents=state.intents, last_sync_id=state.last_sync_id, details=state.details
        )


class PluginServer:
    """A runner: `await start()` returns the bound address; `await stop()` drains and stops."""

    def __init__(self, plugin: Plugin, listen: str = "127.0.0.1:0") -> None:
        self.plugin = plugin
        self._listen = listen
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self.address = ""

    async def start(self) -> str:
        server = serving.new_server()
        plugin_pb2_grpc.add_PluginServiceServicer_to_server(_Servicer(self.plugin), server)
        names = [SERVICE_NAME, *self.plugin.add_services(server)]
        self._health = serving.add_health_and_reflection(server, names)
        # NOT_SERVING until the plugin's own start-up is done.
        await serving.set_all(self._health, names, serving.NOT_SERVING)
        self.address = serving.bind(server, self._listen, listen_credentials())
        await server.start()
        self._server = server
        await self.plugin.start()
        await serving.set_all(self._health, names, serving.SERVING)
        return self.address

    async def stop(self, grace: float = 5.0) -> None:
        if self._server is None:
            return
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
        self._server = None
        await self.plugin.stop()


async def _stdin_closed() -> None:
    """Completes when the controller's end of our stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, OSError):
        # stdin is not a pipe (a person started the plugin by hand): never completes.
        await asyncio.Event().wait()
    while await reader.read(4096):
        pass


async def _serve(plugin: Plugin, listen: str) -> None:
    server = PluginServer(plugin, listen)
    address = await server.start()
    print(handshake.Handshake(address=address).line(), flush=True)
    log.info("plugin %s serving on %s", plugin.instance_id, address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watch_stdin = os.environ.get("TC_PLUGIN_WATCH_STDIN", "1") == "1"
    orphan = asyncio.create_task(_stdin_closed() if watch_stdin else asyncio.Event().wait())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({orphan, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (orphan, stopped):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await server.stop()


def listen_credentials() -> grpc.ServerCredentials | None:
    """mTLS for the instance's port when the supervisor handed it certificates (see
    handshake.ENV_TLS_*), else None (plaintext, for loopback)."""
    cert, key = os.environ.get(handshake.ENV_TLS_CERT), os.environ.get(handshake.ENV_TLS_KEY)
    if not cert or not key:
        return None
    ca = os.environ.get(handshake.ENV_TLS_CA)
    return tls.server_credentials(Path(cert), Path(key), Path(ca) if ca else None)


def _die_with_parent() -> None:
    """Asks the kernel to kill this process when the controller that started it dies.

    Set here, after exec, rather than in the supervisor between fork and exec: running
    Python in a child forked from a process with gRPC threads can crash it. The stdin watch
    in _serve covers other platforms and a parent that died before this call."""
    if not sys.platform.startswith("linux") or handshake.ENV_INSTANCE not in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run(factory: Callable[[dict[str, Any], str], Plugin]) -> None:
    """Process entry point: `run(MyPlugin)` from a plugin's __main__."""
    _die_with_parent()
    instance = os.environ.get(handshake.ENV_INSTANCE, "standalone-0")
    listen = os.environ.get(handshake.ENV_LISTEN, "127.0.0.1:0")
    logs.configure(instance, os.environ.get("TC_LOG_LEVEL", "INFO"))
    try:
        settings = handshake.decode_settings(os.environ.get(handshake.ENV_SETTINGS))
        plugin = factory(settings, instance)
    except Exception as exc:
        print(f"plugin {instance}: bad settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    asyncio.run(_serve(plugin, listen))
