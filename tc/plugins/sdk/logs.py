"""How a plugin process logs: one line per record on stderr, with its `extra=` fields.

Plugins log their context as `extra=` (the zone, the proxy, the server failed over to);
the standard formatter drops those silently, which left a plugin's warnings without the
one detail an operator needs. This formatter appends every field a record carries beyond
the standard ones, as key=value.
"""

from __future__ import annotations

import logging
import sys

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


class ExtrasFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if not extras:
            return text
        return text + " [" + " ".join(f"{k}={v}" for k, v in sorted(extras.items())) + "]"


def configure(instance: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        ExtrasFormatter(f"%(asctime)s %(levelname)s [{instance}] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
