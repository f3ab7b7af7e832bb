"""A real BIND 9 for tests: `named` in the foreground in a temp directory, on a free port.

The dns plugin's RFC 2136 sink is only worth testing against a real server: what BIND
accepts as a prerequisite, how it refuses a TSIG key and how AXFR arrives in several
messages are exactly what a double would get wrong. This starts one `named` per use with a
fresh TSIG key (made by `tsig-keygen`, so key files are the real format), the given zones
open to updates and transfers signed with it, and nothing else (no rndc, no recursion).

Usable as a (sync or async) context manager; tests/component/conftest.py wraps it in the
`bind_server` fixture.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring

ALGORITHMS = ("hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")

# Debian installs named and tsig-keygen in /usr/sbin, which is not on a normal user's PATH.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])

_KEY = re.compile(
    r'key\s+"(?P<name>[^"]+)"\s*\{\s*algorithm\s+(?P<alg>[-\w]+)\s*;\s*'
    r'secret\s+"(?P<secret>[^"]+)"\s*;\s*\}\s*;'
)


class BindError(RuntimeError):
    """BIND could not be started (the message carries the end of its log)."""


def find_binary(name: str) -> str:
    """The path of a BIND tool, or BindError saying which package provides it."""
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        raise BindError(
            f"{name} not found on PATH or in /usr/sbin: install bind9, bind9-utils and "
            "bind9-dnsutils (`make system-deps` as root does)"
        )
    return path


@dataclass(frozen=True)
class TsigKey:
    """A key as tsig-keygen wrote it, and the file it wrote (includable in named.conf)."""

    name: str
    algorithm: str
    secret: str
    file: Path

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        return dns.tsigkeyring.from_text({self.name: (self.algorithm, self.secret)})


def make_key(directory: Path, name: str, algorithm: str = "hmac-sha256") -> TsigKey:
    """A fresh key from `tsig-keygen -a <algorithm> <name>`, written to <directory>/<name>.key."""
    out = subprocess.run(
        [find_binary("tsig-keygen"), "-a", algorithm, name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = _KEY.search(out)
    if match is None:
        raise BindError(f"tsig-keygen wrote something unexpected: {out!r}")
    path = directory / f"{name}.key"
    path.write_text(out, encoding="utf-8")
    path.chmod(0o600)
    return TsigKey(match["name"], match["alg"], match["secret"], path)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on both TCP and UDP right now (named listens on both and cannot be told
    port 0). Another process may still take it before named binds: BindServer retries."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        continue
                    raise
                return port
    raise BindError("no port free on both TCP and UDP after 50 tries")


def zone_file(zone: str) -> str:
    """A minimal zone: SOA, one NS and the NS's address (named refuses an in-zone NS
    without one)."""
    return (
        "$TTL 300\n"
        f"@ IN SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 300\n"
        f"@ IN NS ns.{zone}.\n"
        "ns IN A 127.0.0.1\n"
    )


class BindServer:
    """`named -g` serving `zones` on 127.0.0.1:<free port>, updatable with `key` (and with
    each of `extra_keys`, one per algorithm listed), until stopped.

    `directory` (a fresh temp directory when None) holds named.conf, the key files, the
    zone files and journals, and named.log."""

    def __init__(
        self,
        zones: Sequence[str] = ("example.com",),
        *,
        key_name: str = "tc-key",
        key_algorithm: str = "hmac-sha256",
        extra_keys: Sequence[str] = (),
        directory: Path | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        self.zones = tuple(z.rstrip(".").lower() for z in zones)
        self.host = "127.0.0.1"
        self.port = 0
        self._key_spec = (key_name, key_algorithm)
        self._extra_spec = tuple(extra_keys)
        self._given_directory = directory
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.directory = Path()
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.keys: dict[str, TsigKey] = {}
        """Every key named accepts, by name; `key` is the main one."""
        self.startup_seconds = 0.0
        """How long the last start took: keys, files, and named until every zone answers."""

    # -- what tests read -------------------------------------------------------------------

    @property
    def key(self) -> TsigKey:
        return self.keys[self._key_spec[0]]

    @property
    def key_name(self) -> str:
        return self.key.name

    @property
    def key_algorithm(self) -> str:
        return self.key.algorithm

    @property
    def key_secret(self) -> str:
        return self.key.secret

    @property
    def key_file(self) -> Path:
        return self.key.file

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "named.log"

    def key_for(self, algorithm: str) -> TsigKey:
        """The key of `algorithm` (the main key or one of `extra_keys`)."""
        for key in self.keys.values():
            if key.algorithm == algorithm:
                return key
        raise KeyError(f"no key of {algorithm}: pass it in extra_keys")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> BindServer:
        started = time.monotonic()
        if self._given_directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tc-bind-")
            self.directory = Path(self._tmp.name)
        else:
            self.directory = self._given_directory
            self.directory.mkdir(parents=True, exist_ok=True)
        name, algorithm = self._key_spec
        self.keys = {name: make_key(self.directory, name, algorithm)}
        for alg in self._extra_spec:
            extra = f"{name}-{alg}"
            self.keys[extra] = make_key(self.directory, extra, alg)
        for zone in self.zones:
            (self.directory / f"{zone}.db").write_text(zone_file(zone), encoding="utf-8")

        for attempt in range(5):
            self.port = free_port(self.host)
            self._write_conf()
            self._spawn()
            try:
                self._wait_ready(started)
            except _PortTaken:
                self._terminate()
                if attempt == 4:
                    raise BindError(
                        f"named found its port taken 5 times:\n{self.log_tail()}"
                    ) from None
                continue
            except BaseException:
                self.stop()
                raise
            break
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        self._terminate()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> BindServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> BindServer:
        # Starting runs a few short subprocesses and polls: a thread keeps the loop free.
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _write_conf(self) -> None:
        d = self.directory
        grants = " ".join(f'grant "{k}" zonesub ANY;' for k in self.keys)
        transfer = " ".join(f'key "{k}";' for k in self.keys)
        zones = "".join(
            f'zone "{zone}" {{\n'
            "  type primary;\n"
            f'  file "{zone}.db";\n'
            f"  update-policy {{ {grants} }};\n"
            f"  allow-transfer {{ {transfer} }};\n"
            "};\n"
            for zone in self.zones
        )
        includes = "".join(f'include "{k.file}";\n' for k in self.keys.values())
        conf = (
            f"{includes}"
            "options {\n"
            f'  directory "{d}";\n'
            f"  listen-on port {self.port} {{ {self.host}; }};\n"
            "  listen-on-v6 { none; };\n"
            "  pid-file none;\n"
            "  session-keyfile none;\n"
            f'  managed-keys-directory "{d}";\n'
            "  recursion no;\n"
            "  dnssec-validation no;\n"
            "  notify no;\n"
            "  allow-query { any; };\n"
            # Tests time records per second; BIND's default would rewrite the zone file
            # 15 minutes later, never during a test, but say so rather than rely on it.
            "  max-journal-size unlimited;\n"
            "};\n"
            "controls { };\n"
            f"{zones}"
        )
        (d / "named.conf").write_text(conf, encoding="utf-8")

    def _spawn(self) -> None:
        # A fresh log per attempt: the last attempt's port clash must not fail this one.
        log = self.log_path.open("wb")
        try:
            # -g: foreground, log to stderr; no -u: run as whoever runs the tests (root in
            # CI containers, where named keeps root since nobody asked it to drop it);
            # -4 -n 1: IPv4 and one worker, as a test needs, and less to start.
            self.process = subprocess.Popen(
                [
                    find_binary("named"),
                    "-g",
                    "-4",
                    "-n",
                    "1",
                    "-c",
                    str(self.directory / "named.conf"),
                ],
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()

    def _wait_ready(self, started: float) -> None:
        """Returns once every zone answers an authoritative SOA over UDP; _PortTaken when
        named could not bind its port, BindError when it exits or the timeout passes."""
        pending = list(self.zones)
        while pending:
            assert self.process is not None
            exited = self.process.poll() is not None
            log = self.log_tail(20000)
            # Another process took the port between free_port() and named's bind: named 9.18
            # exits when it cannot listen at all, older ones log and carry on deaf.
            if "address in use" in log or (exited and "unable to listen" in log):
                raise _PortTaken
            if exited:
                raise BindError(f"named exited with {self.process.returncode}:\n{log[-3000:]}")
            try:
                response = dns.query.udp(
                    dns.message.make_query(pending[0], "SOA"), self.host, 0.05, port=self.port
                )
            except (dns.exception.Timeout, OSError):
                response = None
            if response is not None and response.rcode() == dns.rcode.NOERROR and response.answer:
                pending.pop(0)
                continue
            if time.monotonic() - started > self.start_timeout:
                raise BindError(
                    f"named did not serve {pending} within {self.start_timeout}s:\n"
                    f"{self.log_tail()}"
                )
            # Connection refused on UDP returns at once: pace the polling of a slow start.
            time.sleep(0.005)

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    # -- helpers for assertions ------------------------------------------------------------

    def query(self, name: str, rtype: str = "A") -> dns.rrset.RRset | None:
        """The record set `name`/`rtype` as BIND serves it now (over TCP, TSIG-signed so the
        answer is BIND's own); None when it does not exist."""
        query = dns.message.make_query(name, rtype)
        query.use_tsig(self.key.keyring(), self.key_name)
        response = dns.query.tcp(query, self.host, 5, port=self.port)
        qname = dns.name.from_text(name)
        for rrset in response.answer:
            if rrset.name == qname and rrset.rdtype == dns.rdatatype.from_text(rtype):
                return rrset
        return None

    def values(self, name: str, rtype: str = "A") -> set[str]:
        """The values of `name`/`rtype` in presentation form (empty when absent)."""
        rrset = self.query(name, rtype)
        return set() if rrset is None else {r.to_text() for r in rrset}

    def soa_serial(self, zone: str) -> int:
        rrset = self.query(zone, "SOA")
        assert rrset is not None
        return int(rrset[0].serial)

    def nsupdate(self, script: str, *, key: TsigKey | None = None) -> str:
        """Runs `nsupdate -k <keyfile>` with `script` (the `server` line and the final
        `send` are added when missing); returns its output, raises on failure."""
        lines = [line for line in script.strip().splitlines() if line.strip()]
        if not any(line.split()[0] == "server" for line in lines):
            lines.insert(0, f"server {self.host} {self.port}")
        if lines[-1].strip() != "send":
            lines.append("send")
        result = subprocess.run(
            [find_binary("nsupdate"), "-v", "-k", str((key or self.key).file)],
            input="\n".join(lines) + "\n",
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise AssertionError(f"nsupdate failed: {result.stdout}{result.stderr}")
        return result.stdout


class _PortTaken(Exception):
    """named started but another process had taken its port in the meantime."""
