"""Validation errors of the intent model.

An intent is checked as a whole and every broken rule is reported at once (as Envoy
Gateway and Kubernetes do), so a client fixes a document in one round trip instead of
one error at a time. Paths use the proto field names, which are also the JSON names of
the REST API, so a message points at the exact spot in what the client sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule: where (a proto field path) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidIntentError(ValueError):
    """An intent that breaks at least one rule; `errors` holds every one of them.

    It is permanent: retrying the same intent cannot succeed.
    """

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        # The errors are the only argument so the exception pickles and copies intact.
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "; ".join(map(str, self.errors)) or "invalid intent"
