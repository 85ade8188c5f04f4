"""The stage-to-stage models: the copies that drop what a stage no longer needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import pytest

from bot.core.models import FetchResult, PollResult


@pytest.mark.parametrize(
    ("model", "copy", "given", "dropped"),
    [
        (FetchResult, FetchResult.without_body, {}, {"body": None}),
        (
            PollResult,
            PollResult.without_items,
            {"items": ("an item",), "matches": ("its matches",)},  # one entry per item
            {"items": (), "matches": ()},
        ),
    ],
)
def test_a_slimmed_copy_keeps_every_other_field(
    model: type[Any], copy: Callable[[Any], Any], given: dict[str, Any], dropped: dict[str, Any]
) -> None:
    # a distinct stand-in in every field, so that a field copied into the wrong place shows
    values: dict[str, Any] = {f.name: f"value of {f.name}" for f in fields(model)} | given
    slim = copy(model(**values))
    assert {f.name: getattr(slim, f.name) for f in fields(model)} == values | dropped
