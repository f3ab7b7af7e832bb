"""Layered mappings behave as the dicts they stand for, and earlier ones never change."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tc.plugins.envoy.layered import Layered

KEYS = st.sampled_from([f"k{i}" for i in range(40)])
CHANGES = st.dictionaries(KEYS, st.none() | st.integers(0, 3), max_size=8)


def same(layered: Layered[int], model: dict[str, int]) -> None:
    assert len(layered) == len(model)
    assert dict(layered.items()) == model
    assert sorted(layered) == sorted(model)
    for key in [f"k{i}" for i in range(40)]:
        assert (key in layered) == (key in model)
        assert layered.get(key) == model.get(key)
        assert layered.get(key, -1) == model.get(key, -1)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, st.integers(0, 3)), st.lists(CHANGES, max_size=30))
def test_layers_are_the_dicts_they_stand_for(
    start: dict[str, int], steps: list[dict[str, int | None]]
) -> None:
    layers = [Layered(start)]
    models = [dict(start)]
    for changes in steps:
        model = dict(models[-1])
        for key, value in changes.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        layers.append(layers[-1].changed(changes))
        models.append(model)
        if len(layers) % 3 == 0:
            layers[-1].flat()  # as a full read would: the next layer starts from it
    for layered, model in zip(layers, models, strict=True):
        same(layered, model)
    assert layers[-1] == models[-1]


def test_a_lookup_of_a_removed_key_fails() -> None:
    layered = Layered({"a": 1}).changed({"a": None})
    assert "a" not in layered
    with pytest.raises(KeyError):
        layered["a"]
