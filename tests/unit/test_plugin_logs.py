"""A plugin's log lines keep the context it logs as `extra=`."""

from __future__ import annotations

import logging

from tc.plugins.sdk.logs import ExtrasFormatter


def test_extra_fields_are_appended_and_standard_ones_are_not() -> None:
    formatter = ExtrasFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("tc.x", logging.WARNING, __file__, 1, "failover", (), None)
    record.zone = "example.com"
    record.server = "127.0.0.1:53"
    assert formatter.format(record) == "WARNING failover [server=127.0.0.1:53 zone=example.com]"
    plain = logging.LogRecord("tc.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    assert formatter.format(plain) == "INFO hello you"
