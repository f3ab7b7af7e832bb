"""Shared test helpers: valid intents, plugin configs, awaiting conditions, real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tc._proto.tc.v1 import intent_pb2

ROOT = Path(__file__).resolve().parents[1]


def service_intent(
    name: str, *, port: int = 8080, labels: dict[str, str] | None = None
) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=name,
        labels=labels or {},
        service=intent_pb2.ServiceSpec(
            hosts=[f"{name}.example.com"],
            ports=[intent_pb2.Port(number=port, protocol=intent_pb2.PROTOCOL_HTTP)],
            endpoints=[intent_pb2.Endpoint(address="10.0.0.1", port=9000)],
        ),
    )


def dns_intent(name: str) -> intent_pb2.Intent:
    return intent_pb2.Intent(
        name=name,
        dns=intent_pb2.DnsSpec(
            zone="example.com",
            records=[
                intent_pb2.DnsRecord(
                    name=f"{name}.example.com", type=intent_pb2.RECORD_TYPE_A, values=["192.0.2.1"]
                )
            ],
        ),
    )


def write_plugin(
    directory: Path, name: str = "recorder", *, replicas: int = 2, **settings: Any
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    config = {
        "name": name,
        "module": "tc.plugins.recorder",
        "replicas": replicas,
        "allow_single_replica": replicas < 2,
        "settings": {"kind": name, **settings},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def write_envoy_plugin(directory: Path, ports: Sequence[int], **settings: Any) -> Path:
    """The envoy plugin's config: an instance on each of 127.0.0.1:`ports`, rendering
    listeners on 127.0.0.1 (real traffic stays on loopback)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "envoy.yaml"
    config = {
        "name": "envoy",
        "module": "tc.plugins.envoy",
        "listen": [f"127.0.0.1:{p}" for p in ports],
        "settings": {"listen_address": "127.0.0.1", **settings},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def proxy_bootstrap(
    path: Path, xds_ports: Sequence[int], *, node: str = "proxy-1", api: str | None = None
) -> Path:
    """examples/envoy-proxy.yaml pointed at the plugin instances on `xds_ports`, its admin
    port chosen by the kernel; `api` replaces the example's ADS variant (DELTA_GRPC)."""
    text = (ROOT / "examples" / "envoy-proxy.yaml").read_text()
    text = text.replace("port_value: 18000", f"port_value: {xds_ports[0]}")
    text = text.replace("port_value: 18001", f"port_value: {xds_ports[1]}")
    text = text.replace("port_value: 9901", "port_value: 0").replace("id: proxy-1", f"id: {node}")
    if api:
        text = text.replace("api_type: DELTA_GRPC", f"api_type: {api}")
    path.write_text(text)
    return path


class HttpBackend:
    """A local HTTP server answering every GET with 200 and `body` (or what `body` makes of
    the request's headers), served from a thread. `stop()` frees its port, so a test can
    start another on the same one."""

    def __init__(self, body: bytes | Callable[[Message], bytes], port: int = 0) -> None:
        answer = body if callable(body) else lambda _headers: body

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = answer(self.headers)
                self.send_response(200)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


async def wait_until(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 15.0,
    interval: float = 0.02,
    what: str = "condition",
) -> float:
    """Polls `condition` until true; returns the seconds it took, or fails after `timeout`."""
    start = time.monotonic()
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def ready(intent: intent_pb2.Intent) -> bool:
    return any(
        c.type == "Ready"
        and c.status == intent_pb2.CONDITION_STATUS_TRUE
        and c.observed_generation == intent.generation
        for c in intent.status.conditions
    )


class ControllerProcess:
    """The controller as a real child process (`tcctl controller`), killable with -9."""

    def __init__(
        self, state_dir: Path, plugins_dir: Path, *, extra: list[str] | None = None
    ) -> None:
        self.state_dir = state_dir
        self.plugins_dir = plugins_dir
        self.extra = extra or []
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = state_dir / "controller.log"

    @property
    def address_file(self) -> Path:
        return self.state_dir / "controller.address"

    async def start(self, timeout: float = 30.0) -> str:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.address_file.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tc.cli.main",
                "controller",
                "--config",
                str(self.plugins_dir),
                "--state-dir",
                str(self.state_dir),
                "--grpc-address",
                "127.0.0.1:0",
                *self.extra,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()

        def started() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"controller exited: {self.log_path.read_text()[-3000:]}")
            return self.address_file.exists()

        await wait_until(started, timeout=timeout, what="controller address file")
        return self.address_file.read_text().strip()

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
