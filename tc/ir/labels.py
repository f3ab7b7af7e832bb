"""An immutable, hashable label map for the frozen Intent model.

A plain dict inside a frozen pydantic model can still be mutated and makes the model
unhashable; this mapping can do neither. Keys are kept sorted so that iteration, repr
and anything serialized from it do not depend on the order a client sent them in.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema


class Labels(Mapping[str, str]):
    """A read-only str -> str mapping, sorted by key; equal to any mapping with the same items."""

    __slots__ = ("_items",)

    _items: dict[str, str]

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items = dict(sorted(pairs))

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> ItemsView[str, str]:
        # The dict's own view: Mapping's generic one goes through __getitem__ per key.
        return self._items.items()

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return f"Labels({self._items!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        as_dict = core_schema.dict_schema(core_schema.str_schema(), core_schema.str_schema())
        return core_schema.no_info_after_validator_function(
            cls,
            as_dict,
            serialization=core_schema.plain_serializer_function_ser_schema(dict),
        )


EMPTY_LABELS = Labels()
