"""The gateway process: runs Envoy with the REST bootstrap under the controller's supervisor.

The supervisor already knows how to keep a process alive (handshake line, grpc.health.v1
Watch, restart with backoff, crash-loop report, `tcctl status`), but only for processes that
speak that protocol, and Envoy does not. So this small process stands between them: it
writes the bootstrap, starts Envoy as its child, prints the handshake line, and serves
grpc.health.v1 SERVING exactly while Envoy's admin `/ready` says LIVE. When Envoy exits, so
does this process, and the supervisor starts both again.

Envoy must not outlive it (a leftover Envoy would hold the REST port and the restarted one
could not bind), including when this process is killed with SIGKILL: Envoy is started
through a tiny exec shim that sets the parent-death signal first (PR_SET_PDEATHSIG
survives exec). Set in a fresh interpreter, not in a `preexec_fn`, because running Python
between fork and exec in a process with gRPC threads can crash it.

    python -m tc.gateway      # started by the supervisor; settings in TC_PLUGIN_SETTINGS
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any

import httpx

from tc import serving
from tc.gateway.bootstrap import bootstrap
from tc.gateway.descriptors import descriptor_set_bytes
from tc.gateway.openapi import openapi_document, render, repository_comments
from tc.gateway.settings import GatewaySettings
from tc.plugins.sdk import handshake, logs
from tc.plugins.sdk.server import listen_credentials
from tc.server.plugin_config import PluginConfig

log = logging.getLogger("tc.gateway")

NAME = "gateway"
READY_POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 5.0

# argv: parent pid, then Envoy's argv. Exits if the parent is already gone, since the
# death signal only covers a parent that dies after it is set.
_DIE_WITH_PARENT_THEN_EXEC = """
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
if os.getppid() != int(sys.argv[1]):
    sys.exit(70)
os.execv(sys.argv[2], sys.argv[2:])
"""


def process_config(settings: GatewaySettings) -> PluginConfig:
    """How the supervisor starts the gateway: one instance of `python -m tc.gateway`."""
    return PluginConfig(
        name=NAME,
        module="tc.gateway",
        replicas=1,
        # One Envoy owns the REST port; a second could not bind it.
        allow_single_replica=True,
        settings=settings.model_dump(mode="json"),
    )


def resolve_upstream(settings: GatewaySettings) -> str:
    if settings.upstream_address is not None:
        return settings.upstream_address
    assert settings.upstream_address_file is not None
    try:
        address = settings.upstream_address_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RuntimeError(f"cannot read the controller address: {exc}") from exc
    if not address:
        raise RuntimeError(f"{settings.upstream_address_file} is empty")
    return address


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def envoy_argv(settings: GatewaySettings, bootstrap_path: Path, admin_path: Path) -> list[str]:
    return [
        str(settings.envoy_binary),
        "-c",
        str(bootstrap_path),
        # No hot restart: nothing in shared memory to collide with the other Envoys on the
        # machine (tests run several) or to leak after a SIGKILL; the dynamic base id keeps
        # even that name space apart.
        "--disable-hot-restart",
        "--use-dynamic-base-id",
        "--admin-address-path",
        str(admin_path),
        "--log-level",
        settings.envoy_log_level,
    ]


def _read_address(path: Path) -> str | None:
    """A host:port file Envoy or this process wrote; None until it exists."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _listener_address(listeners: Any) -> str | None:
    for status in listeners.get("listener_statuses", []):
        if status.get("name") == "rest":
            socket = status["local_address"]["socket_address"]
            host = socket["address"]
            host = f"[{host}]" if ":" in host else host
            return f"{host}:{socket['port_value']}"
    return None


class Gateway:
    """Runner: start() starts Envoy; `exited` completes when it does; stop() stops it."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.bootstrap_path = settings.work_dir / "envoy.json"
        self.admin_path = settings.work_dir / "admin.address"
        self.rest_address_path = settings.work_dir / "rest.address"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        document = bootstrap(
            self.settings,
            resolve_upstream(self.settings),
            descriptor_set_bytes(),
            # The same document as docs/openapi.json (with the protos' comments when the
            # sources are at hand, as in a checkout).
            openapi=render(openapi_document(comments=repository_comments())),
        )
        _write_atomically(self.bootstrap_path, json.dumps(document, indent=1))
        # Stale files would make the gateway look ready before this Envoy is.
        self.admin_path.unlink(missing_ok=True)
        self.rest_address_path.unlink(missing_ok=True)
        argv = envoy_argv(self.settings, self.bootstrap_path, self.admin_path)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-S",
            "-c",
            _DIE_WITH_PARENT_THEN_EXEC,
            str(os.getpid()),
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            # stdout carries the handshake line: Envoy's output all goes to stderr.
            stdout=sys.stderr.fileno(),
        )
        log.info("envoy %d starting, REST on %s", self.process.pid, self.settings.listen_address)

    async def ready(self, client: httpx.AsyncClient) -> bool:
        """Envoy says LIVE on /ready; the first time, also publishes the REST address."""
        admin = _read_address(self.admin_path)
        if admin is None:
            return False
        try:
            response = await client.get(f"http://{admin}/ready")
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        if _read_address(self.rest_address_path) is None:
            try:
                listeners = await client.get(f"http://{admin}/listeners?format=json")
                address = _listener_address(listeners.json())
            except (httpx.HTTPError, ValueError, KeyError):
                return False
            if address is None:
                return False
            _write_atomically(self.rest_address_path, address + "\n")
            log.info("REST gateway ready on %s", address)
        return True

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _stdin_closed() -> None:
    """Completes when the supervisor's end of our stdin closes (the controller is gone)."""
    if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
        # Started by hand (a terminal, /dev/null): there is no supervisor to outlive.
        await asyncio.Event().wait()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def _follow(gateway: Gateway, health: Any) -> None:
    serving_now: bool | None = None
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            ready = await gateway.ready(client)
            if ready != serving_now:
                serving_now = ready
                await serving.set_all(health, [], serving.SERVING if ready else serving.NOT_SERVING)
            await asyncio.sleep(READY_POLL_SECONDS)


async def serve(settings: GatewaySettings, listen: str) -> int:
    """Runs until Envoy exits (its exit code, never 0) or until told to stop (0)."""
    gateway = Gateway(settings)
    await gateway.start()
    assert gateway.process is not None
    server = serving.new_server()
    health = serving.add_health_and_reflection(server, [])
    await serving.set_all(health, [], serving.NOT_SERVING)
    address = serving.bind(server, listen, listen_credentials())
    await server.start()
    print(handshake.Handshake(address=address).line(), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = {
        asyncio.create_task(gateway.process.wait(), name="envoy"),
        asyncio.create_task(stop.wait(), name="stop"),
        asyncio.create_task(_stdin_closed(), name="orphan"),
    }
    follower = asyncio.create_task(_follow(gateway, health), name="follow envoy")
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [*tasks, follower]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await health.enter_graceful_shutdown()
        await gateway.stop()
        await server.stop(1.0)
    code = gateway.process.returncode
    if any(t.get_name() == "envoy" for t in done):
        log.error("envoy exited with code %s", code)
        # Never 0, so the supervisor counts it as the failure it is (-9 for a SIGKILL).
        return code if code and code > 0 else 1
    return 0


def _die_with_parent() -> None:
    # As in the plugin SDK: the kernel kills this process if the controller dies, and
    # Envoy follows through its own death signal.
    if sys.platform.startswith("linux") and handshake.ENV_INSTANCE in os.environ:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def main() -> None:
    _die_with_parent()
    instance = os.environ.get(handshake.ENV_INSTANCE, f"{NAME}-0")
    logs.configure(instance, os.environ.get("TC_LOG_LEVEL", "INFO"))
    # One line per admin poll would drown the controller's log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = GatewaySettings.model_validate(
            handshake.decode_settings(os.environ.get(handshake.ENV_SETTINGS))
        )
    except ValueError as exc:
        print(f"gateway {instance}: bad settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    listen = os.environ.get(handshake.ENV_LISTEN, "127.0.0.1:0")
    try:
        code = asyncio.run(serve(settings, listen))
    except (RuntimeError, OSError) as exc:
        # One line for `tcctl status`' LAST ERROR; the supervisor retries with backoff.
        print(f"gateway {instance}: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    raise SystemExit(code)
