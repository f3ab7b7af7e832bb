"""What every intent model is: frozen, closed, and checked by one set of rules.

Each model states its rules once, in `check`, which appends every broken rule to a list
under a path instead of raising at the first. Two ways lead into a model and both use
those same rules:

- code constructs a model normally: pydantic checks the types, then `check` runs and
  a broken rule fails the construction (a pydantic ValidationError that wraps an
  InvalidIntentError);
- tc.convert builds a whole tree with `trusted` (model_construct without its per-field
  bookkeeping: no validation, which is what keeps ApplyIntent fast) and then calls
  `check` once on the root, so an invalid intent is reported with every error and full
  proto paths.
"""

from __future__ import annotations

from typing import Any, Self, TypeGuard

from pydantic import BaseModel, ConfigDict, model_validator

from tc.ir.errors import FieldError, InvalidIntentError

EMPTY_WHEN_SET = "must not be empty when set; leave it unset instead"

_setattr = object.__setattr__  # frozen models refuse their own __setattr__


def at(path: str, name: str) -> str:
    """The path of a field below `path`; the root path is the empty string."""
    return f"{path}.{name}" if path else name


class IRModel(BaseModel):
    """Base of every intent model: immutable, unknown fields refused, rules in `check`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def check(self, path: str, out: list[FieldError]) -> None:
        """Appends to `out` every rule this model and the models inside it break."""

    def fill_defaults(self) -> None:
        """Fills in defaults that depend on other fields, for models built by code.

        Runs once, inside construction, before the object is visible to anyone; tc.convert
        fills the same defaults itself and never calls this.
        """

    @model_validator(mode="after")
    def _enforce_rules(self) -> Self:
        self.fill_defaults()
        errors: list[FieldError] = []
        self.check("", errors)
        if errors:
            raise InvalidIntentError(errors)
        return self

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """Builds a model from values that name every field, in field order, unchecked.

        What model_construct does for these models (no aliases, extras, private
        attributes or post-init), without its per-field loop, which was most of the
        conversion time. Callers run `check` on the finished tree.
        """
        model = cls.__new__(cls)
        _setattr(model, "__dict__", values)
        _setattr(model, "__pydantic_fields_set__", set(values))
        _setattr(model, "__pydantic_extra__", None)
        _setattr(model, "__pydantic_private__", None)
        return model

    def _set(self, name: str, value: object) -> None:
        """Sets a field while the model is being built (see fill_defaults)."""
        _setattr(self, name, value)


def duplicate_message(value: object, first: str) -> str:
    """The message for a value that must be unique and was already used at `first`."""
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    return f"{shown} is already used by {first}"


def has_text(value: str | None, path: str, name: str, out: list[FieldError]) -> TypeGuard[str]:
    """True when an optional string is set. The wire cannot carry an empty string apart
    from unset, so a model built by code with "" instead of None is reported."""
    if value is None:
        return False
    if not value:
        out.append(FieldError(at(path, name), EMPTY_WHEN_SET))
        return False
    return True
