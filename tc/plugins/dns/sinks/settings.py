"""The base every dns sink's settings derive from, so all of them refuse config mistakes alike.

A sink's settings come from a plugin config file an operator wrote by hand. An unknown key
(a typo), a value of the wrong type ("300" for a TTL) or a later mutation are errors, and a
validation error never repeats the value it rejected: one sink's settings hold a TSIG
secret, and a message naming the key is enough for anyone to fix the file.
"""

from __future__ import annotations

import pydantic


class SinkSettings(pydantic.BaseModel):
    """Strict, closed and frozen settings whose errors do not echo their input."""

    model_config = pydantic.ConfigDict(
        extra="forbid", strict=True, frozen=True, hide_input_in_errors=True
    )
