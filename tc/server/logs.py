"""Logging set-up for the controller: plain text for people, JSON lines for collectors.

Context (intent, generation, plugin, instance) is passed as `extra=` and shows in both.
"""

from __future__ import annotations

import json
import logging
import sys
import time

CONTEXT_FIELDS = ("intent", "generation", "plugin", "instance")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = [f"{f}={getattr(record, f)}" for f in CONTEXT_FIELDS if hasattr(record, f)]
        return f"{text} [{' '.join(context)}]" if context else text


def configure(*, json_lines: bool, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # grpc's own logger is chatty at INFO about things operators cannot act on.
    logging.getLogger("grpc").setLevel(logging.WARNING)
