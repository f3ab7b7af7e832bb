"""Tokens, TLS, mTLS and the bind policy against an in-process controller.

Certificates come from the `openssl` CLI (the `cryptography` package is not a dependency):
a CA, a server cert for 127.0.0.1 and localhost, and a client cert, made once per module.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tc import tls
from tc._proto.tc.v1 import intent_pb2, intent_pb2_grpc
from tc.server import auth
from tc.server.app import Controller
from tc.server.plugin_config import load_plugin_configs
from tc.server.settings import ControllerSettings
from tests.component.conftest import Running, start_controller
from tests.support import service_intent, write_plugin

OPENSSL_CONFIG = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = traffic-controller test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
"""


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def openssl_cert(
    directory: Path, name: str, section: str, issuer: tuple[Path, Path] | None
) -> tuple[Path, Path]:
    """A cert and key made with the extensions of `section` of directory/openssl.cnf,
    signed by `issuer` (self-signed when None)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-config", str(directory / "openssl.cnf"),
        "-extensions", section, "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    if issuer is not None:
        command += ["-CA", str(issuer[0]), "-CAkey", str(issuer[1])]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def make_pki(directory: Path) -> Pki:
    """A CA, a server cert for 127.0.0.1/localhost and a client cert, in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "openssl.cnf").write_text(OPENSSL_CONFIG, encoding="utf-8")
    ca = openssl_cert(directory, "ca", "ca", None)
    server = openssl_cert(directory, "localhost", "server", ca)
    client = openssl_cert(directory, "client", "client", ca)
    return Pki(ca[0], server[0], server[1], client[0], client[1])


@dataclass
class Tokens:
    path: Path
    good: str
    expired: str


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    path = tmp_path / "tokens.yaml"
    good = auth.add_token(path, "tester")
    expired = auth.add_token(path, "old", dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    return Tokens(path, good, expired)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
async def authed(tmp_path: Path, tokens: Tokens) -> AsyncIterator[Running]:
    r = await start_controller(tmp_path, tokens_file=tokens.path, tokens_reload_seconds=0.05)
    yield r
    await r.channel.close()
    await r.controller.stop()


async def code_and_details(call: Any) -> tuple[grpc.StatusCode, str]:
    try:
        if hasattr(call, "__aiter__"):
            async for _ in call:
                pass
        else:
            await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    raise AssertionError("the call succeeded")


def apply(r: Running, name: str, token: str | None) -> Any:
    metadata = bearer(token) if token is not None else None
    return r.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service_intent(name)), metadata=metadata
    )


async def test_unary_calls_need_a_known_live_token(
    authed: Running, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert await code_and_details(apply(authed, "a", None)) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "missing bearer token",
    )
    for wrong in ("nope", tokens.good + "x", tokens.expired):
        assert await code_and_details(apply(authed, "a", wrong)) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "unknown or expired token",
        )
    basic = authed.intents.ApplyIntent(
        intent_pb2.ApplyIntentRequest(intent=service_intent("a")),
        metadata=(("authorization", f"Basic {tokens.good}"),),
    )
    assert (await code_and_details(basic))[0] == grpc.StatusCode.UNAUTHENTICATED
    response = await apply(authed, "a", tokens.good)
    assert response.result == intent_pb2.APPLY_RESULT_CREATED
    for secret in (tokens.good, tokens.expired, auth.token_hash(tokens.good)):
        assert secret not in caplog.text
    assert "refused /tc.v1.IntentService/ApplyIntent" in caplog.text


async def test_streaming_calls_need_a_token(authed: Running, tokens: Tokens) -> None:
    request = intent_pb2.WatchIntentsRequest(send_initial=True)
    assert await code_and_details(authed.intents.WatchIntents(request)) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "missing bearer token",
    )
    assert await code_and_details(authed.intents.WatchIntents(request, metadata=bearer("x"))) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "unknown or expired token",
    )
    await apply(authed, "w", tokens.good)
    stream = authed.intents.WatchIntents(request, metadata=bearer(tokens.good))
    first: Any = await asyncio.wait_for(stream.read(), 10)
    assert first.type == intent_pb2.WATCH_EVENT_TYPE_ADDED and first.intent.name == "w"
    stream.cancel()


async def test_health_and_reflection_need_no_token(authed: Running) -> None:
    health = health_pb2_grpc.HealthStub(authed.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert answer.status in (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    reflection = reflection_pb2_grpc.ServerReflectionStub(authed.channel)
    call = reflection.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    listed = await call.read()
    await call.done_writing()
    names = [s.name for s in listed.list_services_response.service]
    assert "tc.v1.IntentService" in names


def _sync_apply_and_watch(channel: grpc.Channel, name: str) -> list[str]:
    """What tcctl does: a sync channel, a unary call, then the start of a stream."""
    with channel:
        stub = intent_pb2_grpc.IntentServiceStub(channel)
        stub.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent(name)), timeout=10)
        stream = stub.WatchIntents(intent_pb2.WatchIntentsRequest(send_initial=True), timeout=10)
        first = next(stream)
        stream.cancel()
        return [first.intent.name]


async def test_the_sync_client_helper_sends_the_token(authed: Running, tokens: Tokens) -> None:
    # In a thread: a sync call on the event loop the server runs on would never be answered.
    channel = tls.with_bearer_token(grpc.insecure_channel(authed.controller.address), tokens.good)
    assert await asyncio.to_thread(_sync_apply_and_watch, channel, "s") == ["s"]
    unauthenticated = tls.with_bearer_token(grpc.insecure_channel(authed.controller.address), None)
    with pytest.raises(grpc.RpcError) as caught:
        await asyncio.to_thread(_sync_apply_and_watch, unauthenticated, "s")
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert tokens.good not in repr(tls._BearerToken(tokens.good))


async def test_a_token_added_to_the_file_works_without_restart(
    authed: Running, tokens: Tokens
) -> None:
    fresh = auth.add_token(tokens.path, "newcomer")
    for _ in range(100):
        try:
            await apply(authed, "n", fresh)
            break
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("the new token was never accepted")
    auth.remove_token(tokens.path, "tester")
    for _ in range(100):
        code = None
        try:
            await apply(authed, "n", tokens.good)
        except grpc.aio.AioRpcError as error:
            code = error.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the removed token was still accepted")


async def test_tls_with_token(tmp_path: Path, pki: Pki, tokens: Tokens) -> None:
    r = await start_controller(
        tmp_path,
        tokens_file=tokens.path,
        tls_cert_file=pki.server_cert,
        tls_key_file=pki.server_key,
    )
    try:
        await r.channel.close()
        credentials = tls.channel_credentials(pki.ca)
        async with grpc.aio.secure_channel(r.controller.address, credentials) as channel:
            stub = intent_pb2_grpc.IntentServiceStub(channel)
            response = await stub.ApplyIntent(
                intent_pb2.ApplyIntentRequest(intent=service_intent("t")),
                metadata=bearer(tokens.good),
            )
            assert response.result == intent_pb2.APPLY_RESULT_CREATED
            code, _ = await code_and_details(
                stub.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent("t")))
            )
            assert code == grpc.StatusCode.UNAUTHENTICATED
        token_file = tmp_path / "token"
        token_file.write_text(tokens.good + "\n", encoding="utf-8")
        sync = tls.with_bearer_token(
            grpc.secure_channel(r.controller.address, tls.channel_credentials(pki.ca)),
            tls.read_token_file(token_file),
        )
        assert await asyncio.to_thread(_sync_apply_and_watch, sync, "t") == ["t"]
        # Plaintext against the TLS port never gets an answer.
        async with grpc.aio.insecure_channel(r.controller.address) as plain:
            health = health_pb2_grpc.HealthStub(plain)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
            assert caught.value.code() in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            )
    finally:
        await r.controller.stop()


async def test_mtls_refuses_a_client_without_a_cert(tmp_path: Path, pki: Pki) -> None:
    r = await start_controller(
        tmp_path,
        tls_cert_file=pki.server_cert,
        tls_key_file=pki.server_key,
        tls_client_ca_file=pki.ca,
    )
    try:
        await r.channel.close()
        request = health_pb2.HealthCheckRequest()
        async with grpc.aio.secure_channel(
            r.controller.address, tls.channel_credentials(pki.ca)
        ) as anonymous:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await health_pb2_grpc.HealthStub(anonymous).Check(request, timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        files = tls.TlsFiles(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
        async with tls.secure_aio_channel(
            r.controller.address, files.channel_credentials(), server_name="localhost"
        ) as known:
            answer = await health_pb2_grpc.HealthStub(known).Check(request, timeout=5)
            assert answer.status in (
                health_pb2.HealthCheckResponse.SERVING,
                health_pb2.HealthCheckResponse.NOT_SERVING,
            )
    finally:
        await r.controller.stop()


def _settings(tmp_path: Path, address: str, **overrides: Any) -> ControllerSettings:
    plugins = tmp_path / "plugins.d"
    if not plugins.exists():
        write_plugin(plugins)
    return ControllerSettings(
        grpc_address=address,
        state_dir=tmp_path / "state",
        plugins_dir=plugins,
        store_synchronous="NORMAL",
        **overrides,
    )


async def test_refuses_every_interface_without_tls_and_tokens(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "0.0.0.0:0")
    controller = Controller(settings, load_plugin_configs(settings.plugins_dir))
    with pytest.raises(auth.InsecureBindError) as caught:
        await controller.start()
    message = str(caught.value)
    assert "0.0.0.0:0" in message and "TLS" in message and "tokens_file" in message
    assert not settings.state_dir.exists()  # refused before any side effect


@pytest.mark.parametrize("secure", [False, True], ids=["insecure", "tls+tokens"])
async def test_serves_every_interface_when_insecure_or_secured(
    tmp_path: Path, pki: Pki, tokens: Tokens, secure: bool
) -> None:
    extra: dict[str, object] = (
        {
            "tls_cert_file": pki.server_cert,
            "tls_key_file": pki.server_key,
            "tokens_file": tokens.path,
        }
        if secure
        else {"insecure": True}
    )
    settings = _settings(tmp_path, "0.0.0.0:0", **extra)
    controller = Controller(settings, load_plugin_configs(settings.plugins_dir))
    address = await controller.start()
    try:
        port = address.rpartition(":")[2]
        assert address.startswith("0.0.0.0:") and port != "0"
        target = f"127.0.0.1:{port}"
        channel = (
            grpc.aio.secure_channel(target, tls.channel_credentials(pki.ca))
            if secure
            else grpc.aio.insecure_channel(target)
        )
        async with channel:
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
    finally:
        await controller.stop()
