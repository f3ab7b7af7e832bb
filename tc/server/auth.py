"""Bearer-token authentication of every call to the controller, and the tool that issues tokens.

The controller has one gRPC server; REST arrives through Envoy's transcoder, which forwards
the `Authorization` header as metadata. So one server interceptor here covers REST and
direct gRPC alike. Health and reflection stay open: load balancers, Kubernetes probes and
`grpcurl list` must work without a secret.

The tokens file lists, per client, a name, the SHA-256 of its token and an optional expiry:

    tokens:
      - name: orchestrator
        sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        expires: 2026-01-01T00:00:00Z

It holds no token, so a leaked copy grants nothing. It is re-read when it changes, so a
client can be added or revoked without a restart. Issue a token with

    python -m tc.server.auth add-token NAME --file tokens.yaml [--expires-days N]

which prints the token once and stores only its hash.

`port_security` is the one place the controller's port policy lives: the interceptor and
TLS credentials from settings, and the refusal to listen beyond loopback without both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tc import tls
from tc.server.settings import ControllerSettings

log = logging.getLogger("tc.auth")

# Calls that never need a token: probes and service discovery. Full method names, matched
# exactly or by service prefix, so a new method on an authenticated service is never open.
OPEN_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
OPEN_METHODS = frozenset(
    {
        "/tc.v1.LifecycleService/Healthz",
        "/tc.v1.LifecycleService/Readyz",
    }
)

MISSING = "missing bearer token"
REJECTED = "unknown or expired token"

# 32 random bytes: 256 bits, beyond guessing. The prefix lets secret scanners spot a leak.
TOKEN_PREFIX = "tc_"
TOKEN_BYTES = 32

# How often a call may stat the tokens file: cheap, but not for every one of thousands of
# calls a second, and one second is fast enough for an operator adding a client.
DEFAULT_RELOAD_SECONDS = 1.0


class TokensFileError(ValueError):
    """A tokens file that cannot be read or does not have the expected shape."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """SHA-256 of the token, hex.

    A slow or salted hash (bcrypt, argon2) protects low-entropy passwords from guessing; a
    token of 256 random bits cannot be guessed from its hash however fast the hash is, so
    plain SHA-256 is enough and keeps authentication cheap on every call.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenEntry(BaseModel):
    """One client: who it is, its token's hash, and until when the token is good."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.@]*$")
    # Kept out of repr: a hash is no secret, but it has no business in logs either.
    sha256: str = Field(pattern="^[0-9a-f]{64}$", repr=False)
    expires: dt.datetime | None = None

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        # A timestamp without an offset is read as UTC, never as the host's local time.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    def expired(self, now: dt.datetime) -> bool:
        return self.expires is not None and now >= self.expires


class TokensFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: list[TokenEntry] = Field(default_factory=list)

    @field_validator("tokens")
    @classmethod
    def _unique(cls, tokens: list[TokenEntry]) -> list[TokenEntry]:
        names = [t.name for t in tokens]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate token names: {', '.join(duplicates)}")
        return tokens


def parse_tokens(text: str, source: str = "tokens file") -> list[TokenEntry]:
    """The entries of a tokens file's text (YAML, or JSON which YAML reads too)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TokensFileError(f"{source}: not YAML or JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TokensFileError(f"{source}: expected a mapping with a `tokens` list")
    try:
        return TokensFile.model_validate(data).tokens
    except ValidationError as exc:
        # Only locations and reasons: pydantic's own text would echo the offending value.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise TokensFileError(f"{source}: {problems}") from None


def load_tokens(path: Path) -> list[TokenEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokensFileError(f"cannot read tokens file {path}: {exc.strerror or exc}") from None
    return parse_tokens(text, str(path))


class TokenStore:
    """The accepted tokens, re-read from the file when it changes.

    A reload that fails keeps the tokens already loaded and logs why: a half-written file
    must not lock every client out. A file that disappears revokes everything, since
    deleting it is the quickest way an operator has to shut the door.
    """

    def __init__(
        self,
        path: Path,
        *,
        reload_seconds: float = DEFAULT_RELOAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._reload_seconds = reload_seconds
        self._clock = clock
        self._entries: list[TokenEntry] = []
        self._signature: tuple[int, int, int] | None = None
        self._next_check = 0.0

    def load(self) -> None:
        """Reads the file now; raises TokensFileError so start-up can fail on a bad file."""
        signature = self._stat()
        self._entries = load_tokens(self.path)
        self._signature = signature
        self._next_check = self._clock() + self._reload_seconds
        log.info("loaded %d token(s) from %s", len(self._entries), self.path)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        # The inode catches an atomic replace within the same mtime tick; the size catches
        # an in-place edit within it.
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _maybe_reload(self) -> None:
        now = self._clock()
        if now < self._next_check:
            return
        self._next_check = now + self._reload_seconds
        signature = self._stat()
        if signature == self._signature:
            return
        self._signature = signature
        if signature is None:
            if self._entries:
                log.warning("tokens file %s is gone: every token is revoked", self.path)
            self._entries = []
            return
        try:
            self._entries = load_tokens(self.path)
        except TokensFileError as exc:
            log.error("tokens file not reloaded, keeping %d token(s): %s", len(self._entries), exc)
            return
        log.info("reloaded %d token(s) from %s", len(self._entries), self.path)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    def authenticate(self, token: str, now: dt.datetime | None = None) -> TokenEntry | None:
        """The entry `token` belongs to, or None if unknown or expired.

        Every entry is compared, in constant time, so neither which entry matched nor how
        much of a hash did can be read from the time taken.
        """
        self._maybe_reload()
        presented = token_hash(token)
        found: TokenEntry | None = None
        for entry in self._entries:
            if hmac.compare_digest(presented, entry.sha256):
                found = entry
        if found is None:
            return None
        if found.expired(now or dt.datetime.now(dt.UTC)):
            log.info("rejected the expired token of %s", found.name)
            return None
        return found

    def __repr__(self) -> str:
        return f"TokenStore({self.path}, {len(self._entries)} token(s))"


def _bearer(metadata: Sequence[Any] | None) -> str | None:
    """The token of the first `authorization` metadata entry, or None if there is none."""
    for key, value in metadata or ():
        if key != "authorization":
            continue
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()
    return None


def is_open(method: str) -> bool:
    return method in OPEN_METHODS or method.startswith(OPEN_SERVICES)


def _refusal(message: str, method: str) -> Callable[..., Awaitable[None]]:
    async def refuse(_request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        log.warning("refused %s from %s: %s", method, context.peer(), message)
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return refuse


def _refusing_handler(
    handler: grpc.RpcMethodHandler[Any, Any], message: str, method: str
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape as `handler` that only refuses.

    The shape must match so gRPC reads the request as the client sends it (one message or a
    stream) before the refusal. A coroutine serves every shape: grpc.aio awaits it and
    sends no response messages.
    """
    refuse = _refusal(message, method)
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(
            refuse, handler.request_deserializer, handler.response_serializer
        )
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(
            refuse, handler.request_deserializer, handler.response_serializer
        )
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(
            refuse, handler.request_deserializer, handler.response_serializer
        )
    return grpc.unary_unary_rpc_method_handler(
        refuse, handler.request_deserializer, handler.response_serializer
    )


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Requires `authorization: Bearer <token>` on every call except the open ones."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or is_open(method):
            return handler
        token = _bearer(handler_call_details.invocation_metadata)
        if token is None:
            return _refusing_handler(handler, MISSING, method)
        entry = self.tokens.authenticate(token)
        if entry is None:
            return _refusing_handler(handler, REJECTED, method)
        log.debug("%s called by %s", method, entry.name)
        return handler


# -- the port's policy ------------------------------------------------------------------------


class InsecureBindError(ValueError):
    """The controller was asked to listen beyond loopback without TLS and tokens."""


def check_bind(settings: ControllerSettings) -> None:
    """Refuses a non-loopback address without TLS and tokens, unless `insecure` is set.

    Loopback is always allowed: only this host's users reach it, and `tcctl up` on a laptop
    must work without certificates.
    """
    if settings.insecure or tls.is_loopback(settings.grpc_address):
        return
    missing = []
    if not settings.tls_enabled:
        missing.append("TLS (tls_cert_file and tls_key_file)")
    if settings.tokens_file is None:
        missing.append("bearer tokens (tokens_file)")
    if missing:
        raise InsecureBindError(
            f"refusing to serve on {settings.grpc_address}, which is reachable from other "
            f"hosts, without {' and '.join(missing)}; configure them, bind a loopback "
            "address, or set insecure (--insecure) to accept the risk"
        )


def port_security(
    settings: ControllerSettings,
) -> tuple[list[grpc.aio.ServerInterceptor], grpc.ServerCredentials | None]:
    """The interceptors and credentials of the controller's port; raises on a bad setup.

    Everything is read here, before anything binds, so a missing cert or a bad tokens file
    stops start-up with one clear message rather than failing the first client.
    """
    check_bind(settings)
    missing = [
        what
        for what, present in (("TLS", settings.tls_enabled), ("tokens", settings.tokens_file))
        if not present
    ]
    if missing and not tls.is_loopback(settings.grpc_address):
        log.warning(
            "insecure: serving on %s without %s", settings.grpc_address, " and ".join(missing)
        )
    interceptors: list[grpc.aio.ServerInterceptor] = []
    if settings.tokens_file is not None:
        store = TokenStore(settings.tokens_file, reload_seconds=settings.tokens_reload_seconds)
        store.load()
        interceptors.append(BearerTokenInterceptor(store))
    credentials = None
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        credentials = tls.server_credentials(
            settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
        )
    return interceptors, credentials


# -- issuing tokens ----------------------------------------------------------------------------


def _write_tokens(path: Path, entries: list[TokenEntry]) -> None:
    """Replaces the file atomically so the controller never reads half of it."""
    data = {
        "tokens": [
            {k: v for k, v in e.model_dump(mode="json").items() if v is not None} for e in entries
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    tmp.replace(path)


def add_token(path: Path, name: str, expires: dt.datetime | None = None) -> str:
    """Adds a client `name` to the tokens file (created if missing); returns its new token.

    The file is rewritten, so comments in it are not kept.
    """
    entries = load_tokens(path) if path.exists() else []
    if any(e.name == name for e in entries):
        raise TokensFileError(f"{path}: a token named {name!r} exists; remove it first")
    token = new_token()
    try:
        entry = TokenEntry(name=name, sha256=token_hash(token), expires=expires)
    except ValidationError as exc:
        raise TokensFileError(
            "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        ) from None
    _write_tokens(path, [*entries, entry])
    return token


def remove_token(path: Path, name: str) -> None:
    entries = load_tokens(path)
    kept = [e for e in entries if e.name != name]
    if len(kept) == len(entries):
        raise TokensFileError(f"{path}: no token named {name!r}")
    _write_tokens(path, kept)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tc.server.auth", description="Manage the controller's tokens file."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-token", help="issue a token for a client; prints it once")
    add.add_argument("name")
    add.add_argument("--file", type=Path, required=True, metavar="PATH")
    add.add_argument("--expires-days", type=float, metavar="DAYS", help="default: never")
    remove = sub.add_parser("remove-token", help="revoke a client's token")
    remove.add_argument("name")
    remove.add_argument("--file", type=Path, required=True, metavar="PATH")
    listing = sub.add_parser("list", help="show the clients and their expiry")
    listing.add_argument("--file", type=Path, required=True, metavar="PATH")
    args = parser.parse_args(argv)
    try:
        if args.command == "add-token":
            expires = (
                dt.datetime.now(dt.UTC).replace(microsecond=0)
                + dt.timedelta(days=args.expires_days)
                if args.expires_days is not None
                else None
            )
            print(add_token(args.file, args.name, expires))
            print(
                f"token for {args.name} added to {args.file}; it is shown only this once",
                file=sys.stderr,
            )
        elif args.command == "remove-token":
            remove_token(args.file, args.name)
        else:
            for e in load_tokens(args.file):
                print(f"{e.name}\t{e.expires.isoformat() if e.expires else 'never'}")
    except TokensFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
