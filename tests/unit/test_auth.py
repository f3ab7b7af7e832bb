"""The tokens file, token hashing, expiry, reloading, and the port policy, without a server."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tc import tls
from tc.server import auth
from tc.server.settings import ControllerSettings

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def write(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump({"tokens": entries}), encoding="utf-8")


def test_new_tokens_are_random_256_bit_and_hashed_with_sha256() -> None:
    a, b = auth.new_token(), auth.new_token()
    assert a != b and a.startswith(auth.TOKEN_PREFIX)
    # 32 bytes in unpadded base64url is 43 characters.
    assert len(a) == len(auth.TOKEN_PREFIX) + 43
    assert auth.token_hash(a) == hashlib.sha256(a.encode()).hexdigest()


def test_parse_yaml_and_json_with_optional_expiry() -> None:
    digest = auth.token_hash("t")
    text = f"tokens:\n- name: a\n  sha256: {digest}\n  expires: 2029-06-01T00:00:00Z\n"
    [entry] = auth.parse_tokens(text)
    assert entry.name == "a" and entry.sha256 == digest
    assert entry.expires == dt.datetime(2029, 6, 1, tzinfo=dt.UTC)
    [entry] = auth.parse_tokens(json.dumps({"tokens": [{"name": "b", "sha256": digest}]}))
    assert entry.expires is None
    # No offset means UTC, never the host's local time.
    [entry] = auth.parse_tokens(
        json.dumps({"tokens": [{"name": "c", "sha256": digest, "expires": "2029-06-01T00:00:00"}]})
    )
    assert entry.expires == dt.datetime(2029, 6, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "expected a mapping"),
        ("tokens: [", "not YAML"),
        ("tokens:\n- name: a\n  sha256: abc\n", "tokens.0.sha256"),
        (f"tokens:\n- name: a\n  sha256: {'a' * 64}\n  token: secret\n", "tokens.0.token"),
        (
            f"tokens:\n- name: a\n  sha256: {'a' * 64}\n- name: a\n  sha256: {'b' * 64}\n",
            "duplicate token names: a",
        ),
    ],
)
def test_bad_files_are_refused_without_echoing_values(text: str, problem: str) -> None:
    with pytest.raises(auth.TokensFileError, match=problem) as caught:
        auth.parse_tokens(text)
    assert "secret" not in str(caught.value)


def test_authenticate_known_unknown_and_expired(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    write(
        path,
        [
            {"name": "live", "sha256": auth.token_hash("good")},
            {"name": "old", "sha256": auth.token_hash("stale"), "expires": "2029-12-31T23:59:59Z"},
            {"name": "later", "sha256": auth.token_hash("soon"), "expires": "2030-01-01T00:00:01Z"},
        ],
    )
    store = auth.TokenStore(path)
    store.load()
    live = store.authenticate("good", NOW)
    assert live is not None and live.name == "live"
    assert store.authenticate("wrong", NOW) is None
    assert store.authenticate("stale", NOW) is None
    assert store.authenticate("soon", NOW) is not None
    assert store.authenticate("soon", NOW + dt.timedelta(seconds=1)) is None


def test_every_entry_is_compared_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.yaml"
    write(path, [{"name": n, "sha256": auth.token_hash(n)} for n in ("a", "b", "c")])
    store = auth.TokenStore(path)
    store.load()
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(x: str, y: str) -> bool:
        calls.append((x, y))
        return real(x, y)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    entry = store.authenticate("a", NOW)
    assert entry is not None and entry.name == "a"
    # No early exit on the first match: the time does not tell which entry matched.
    assert len(calls) == 3


def test_reload_on_change_keeps_last_good_and_revokes_when_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.yaml"
    write(path, [{"name": "a", "sha256": auth.token_hash("one")}])
    clock = [0.0]
    store = auth.TokenStore(path, reload_seconds=1.0, clock=lambda: clock[0])
    store.load()
    write(path, [{"name": "b", "sha256": auth.token_hash("two")}])
    # Not yet due for a stat: the old set stands.
    assert store.authenticate("two", NOW) is None
    clock[0] = 1.0
    assert store.authenticate("two", NOW) is not None
    assert store.authenticate("one", NOW) is None

    path.write_text("tokens: [", encoding="utf-8")
    clock[0] = 2.0
    with caplog.at_level(logging.ERROR, logger="tc.auth"):
        assert store.authenticate("two", NOW) is not None
    assert "not reloaded" in caplog.text

    path.unlink()
    clock[0] = 3.0
    assert store.authenticate("two", NOW) is None
    assert store.names == []


def test_reload_sees_a_same_size_edit_within_one_mtime_tick(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    write(path, [{"name": "a", "sha256": auth.token_hash("one")}])
    before = os.stat(path)
    clock = [0.0]
    store = auth.TokenStore(path, reload_seconds=1.0, clock=lambda: clock[0])
    store.load()
    replacement = tmp_path / "new.yaml"
    write(replacement, [{"name": "b", "sha256": auth.token_hash("one")}])
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    replacement.replace(path)
    clock[0] = 1.0
    entry = store.authenticate("one", NOW)
    assert entry is not None and entry.name == "b"


def test_secrets_stay_out_of_repr_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.yaml"
    caplog.set_level(logging.DEBUG)
    token = auth.add_token(path, "ci", NOW)
    digest = auth.token_hash(token)
    store = auth.TokenStore(path)
    store.load()
    [entry] = auth.load_tokens(path)
    assert token not in path.read_text() and digest in path.read_text()
    assert store.authenticate(token, NOW - dt.timedelta(days=1)) is not None
    assert store.authenticate(token, NOW) is None  # expired: logged by name
    assert store.authenticate(token + "x", NOW) is None
    for text in (repr(entry), repr(store), str(entry), caplog.text):
        assert token not in text and digest not in text
    assert "expired token of ci" in caplog.text


def test_add_list_remove_with_the_tool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sub" / "tokens.yaml"
    assert auth.main(["add-token", "orchestrator", "--file", str(path)]) == 0
    token = capsys.readouterr().out.strip()
    assert auth.main(["add-token", "admin", "--file", str(path), "--expires-days", "30"]) == 0
    capsys.readouterr()
    store = auth.TokenStore(path)
    store.load()
    assert store.names == ["orchestrator", "admin"]
    entry = store.authenticate(token)
    assert entry is not None and entry.name == "orchestrator"
    assert auth.main(["add-token", "admin", "--file", str(path)]) == 1
    assert "exists" in capsys.readouterr().err
    assert auth.main(["list", "--file", str(path)]) == 0
    listed = capsys.readouterr().out
    assert "orchestrator\tnever" in listed and token not in listed
    assert auth.main(["remove-token", "orchestrator", "--file", str(path)]) == 0
    assert [e.name for e in auth.load_tokens(path)] == ["admin"]
    assert auth.main(["remove-token", "nobody", "--file", str(path)]) == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer ", None),
        ("abc", None),
    ],
)
def test_bearer_header_parsing(header: str, expected: str | None) -> None:
    assert auth._bearer([("x-other", "1"), ("authorization", header)]) == expected
    assert auth._bearer([("x-other", "1")]) is None


def test_open_methods() -> None:
    assert auth.is_open("/grpc.health.v1.Health/Check")
    assert auth.is_open("/grpc.health.v1.Health/Watch")
    assert auth.is_open("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    assert auth.is_open("/tc.v1.LifecycleService/Healthz")
    assert auth.is_open("/tc.v1.LifecycleService/Readyz")
    assert not auth.is_open("/tc.v1.LifecycleService/GetStatus")
    assert not auth.is_open("/tc.v1.IntentService/ApplyIntent")
    assert not auth.is_open("/grpc.health.v1.HealthX/Check")


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.1.2.3:0", True),
        ("[::1]:50051", True),
        ("localhost:50051", True),
        ("LOCALHOST:1", True),
        ("unix:/tmp/tc.sock", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        (":50051", False),
        ("10.0.0.5:50051", False),
        ("controller.example.com:50051", False),
    ],
)
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert tls.is_loopback(address) is loopback


def test_bind_policy(tmp_path: Path) -> None:
    auth.check_bind(ControllerSettings(grpc_address="127.0.0.1:0"))
    with pytest.raises(auth.InsecureBindError) as caught:
        auth.check_bind(ControllerSettings(grpc_address="0.0.0.0:50051"))
    message = str(caught.value)
    assert "0.0.0.0:50051" in message and "TLS" in message and "tokens_file" in message
    with pytest.raises(auth.InsecureBindError) as caught:
        auth.check_bind(
            ControllerSettings(
                grpc_address="0.0.0.0:50051",
                tls_cert_file=tmp_path / "c",
                tls_key_file=tmp_path / "k",
            )
        )
    assert "TLS" not in str(caught.value) and "tokens_file" in str(caught.value)
    auth.check_bind(ControllerSettings(grpc_address="0.0.0.0:50051", insecure=True))
    auth.check_bind(
        ControllerSettings(
            grpc_address="0.0.0.0:50051",
            tls_cert_file=tmp_path / "c",
            tls_key_file=tmp_path / "k",
            tokens_file=tmp_path / "t",
        )
    )


def test_settings_refuse_half_a_tls_pair(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="go together"):
        ControllerSettings(tls_cert_file=tmp_path / "c")
    with pytest.raises(ValueError, match="needs tls_cert_file"):
        ControllerSettings(tls_client_ca_file=tmp_path / "ca")
    with pytest.raises(ValueError, match="go together"):
        tls.TlsFiles(key_file=tmp_path / "k")


def test_port_security_fails_early_on_missing_files(tmp_path: Path) -> None:
    with pytest.raises(auth.TokensFileError, match="cannot read tokens file"):
        auth.port_security(ControllerSettings(tokens_file=tmp_path / "missing.yaml"))
    with pytest.raises(tls.TlsConfigError, match="cannot read TLS certificate"):
        auth.port_security(
            ControllerSettings(tls_cert_file=tmp_path / "c", tls_key_file=tmp_path / "k")
        )
    interceptors, credentials = auth.port_security(ControllerSettings())
    assert interceptors == [] and credentials is None
