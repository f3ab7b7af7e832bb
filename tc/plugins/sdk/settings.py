"""Plugin settings read into a pydantic model, with errors that name the key, not the value.

Every plugin's settings come from a config file an operator wrote by hand, and its sinks'
settings with them; one error style for all of them ("settings.sink.ttl: ...") lets the
operator find the line, and a message that never repeats the rejected value keeps a secret
(a TSIG key, a token) out of logs and statuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

_Model = TypeVar("_Model", bound=pydantic.BaseModel)


def parse_settings(model: type[_Model], settings: Mapping[str, Any], where: str = "sink") -> _Model:
    """`model` from a config mapping; ValueError naming the first bad key (`where.key`)."""
    try:
        return model.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(settings)"
        raise ValueError(f"{where}.{key}: {first['msg']}") from None
