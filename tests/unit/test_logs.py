"""Log lines carry the intent, generation, plugin and instance they are about."""

from __future__ import annotations

import json
import logging

from tc.server.logs import JsonFormatter, TextFormatter


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("tc.reconciler", logging.WARNING, __file__, 1, "call %s", ("x",), None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_lines_include_bound_context() -> None:
    line = JsonFormatter().format(record(intent="shop", generation=3, plugin="envoy"))
    doc = json.loads(line)
    assert doc["message"] == "call x"
    assert doc["level"] == "warning"
    assert (doc["intent"], doc["generation"], doc["plugin"]) == ("shop", 3, "envoy")
    assert "instance" not in doc


def test_text_lines_append_context() -> None:
    text = TextFormatter().format(record(plugin="dns", instance="dns-1"))
    assert text.endswith("call x [plugin=dns instance=dns-1]")
    assert "[" not in TextFormatter().format(record())
