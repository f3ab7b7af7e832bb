"""The handshake line a plugin prints, parsed the way the supervisor parses it."""

from __future__ import annotations

import pytest

from tc.plugins.sdk import handshake


def test_round_trip() -> None:
    line = handshake.Handshake(address="127.0.0.1:4321").line()
    assert handshake.parse_line(line + "\n") == handshake.Handshake("127.0.0.1:4321")


@pytest.mark.parametrize("line", ["", "starting up", "INFO TC-PLUGIN|1|grpc|x:1"])
def test_ordinary_lines_are_not_handshakes(line: str) -> None:
    assert handshake.parse_line(line) is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("TC-PLUGIN|1|grpc", "malformed"),
        ("TC-PLUGIN|x|grpc|127.0.0.1:1", "protocol version"),
        ("TC-PLUGIN|2|grpc|127.0.0.1:1", "speaks handshake protocol 2"),
        ("TC-PLUGIN|1|netrpc|127.0.0.1:1", "malformed"),
        ("TC-PLUGIN|1|grpc|", "no host:port"),
    ],
)
def test_bad_handshakes_are_errors(line: str, message: str) -> None:
    with pytest.raises(handshake.HandshakeError, match=message):
        handshake.parse_line(line)


def test_settings_must_be_an_object() -> None:
    assert handshake.decode_settings(handshake.encode_settings({"a": [1]})) == {"a": [1]}
    assert handshake.decode_settings(None) == {}
    with pytest.raises(handshake.HandshakeError):
        handshake.decode_settings("[1]")
