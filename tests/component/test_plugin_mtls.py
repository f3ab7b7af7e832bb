"""mTLS between the controller and its plugin instances (ControllerSettings.plugin_tls).

Each instance serves its port with the certificate and requires a client certificate from
the CA; the controller presents the same certificate. Intents still become Ready through
real plugin processes, and a client without a certificate is refused by an instance.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tc import tls
from tc._proto.tc.v1 import intent_pb2
from tc.tls import TlsFiles
from tests.component.conftest import start_controller
from tests.component.test_auth import OPENSSL_CONFIG, openssl_cert
from tests.support import ready, service_intent, wait_until

# One certificate for both ends: serverAuth for the instance, clientAuth for the controller.
PEER = """
[peer]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
"""


async def test_plugins_over_mtls(tmp_path: Path) -> None:
    (tmp_path / "openssl.cnf").write_text(OPENSSL_CONFIG + PEER, encoding="utf-8")
    ca = openssl_cert(tmp_path, "ca", "ca", None)
    cert, key = openssl_cert(tmp_path, "peer", "peer", ca)
    r = await start_controller(
        tmp_path, plugin_tls=TlsFiles(cert_file=cert, key_file=key, ca_file=ca[0])
    )
    try:
        await wait_until(r.controller.all_plugins_ready, what="plugins ready over mTLS")
        await r.intents.ApplyIntent(intent_pb2.ApplyIntentRequest(intent=service_intent("web")))

        async def web_ready() -> bool:
            got = await r.intents.GetIntent(intent_pb2.GetIntentRequest(name="web"))
            return ready(got.intent)

        await wait_until(web_ready, what="web Ready through mTLS plugins")
        address = r.controller.supervisor.groups[0].instances[0].address
        # Without a client certificate an instance refuses the handshake.
        no_cert = tls.secure_aio_channel(
            address, tls.channel_credentials(ca[0]), server_name="localhost"
        )
        with pytest.raises(grpc.aio.AioRpcError):
            await health_pb2_grpc.HealthStub(no_cert).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        await no_cert.close()
        plain = grpc.aio.insecure_channel(address)
        with pytest.raises(grpc.aio.AioRpcError):
            await health_pb2_grpc.HealthStub(plain).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        await plain.close()
    finally:
        await r.channel.close()
        await r.controller.stop()
