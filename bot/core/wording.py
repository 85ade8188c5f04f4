"""Counts in words: "1 feed", "2 feeds", "1 story", "3 stories"."""

from __future__ import annotations

_IRREGULAR = {"story": "stories", "entry": "entries", "day": "days", "query": "queries"}


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """`n` and the noun in the number it takes: `counted(1, "feed")` is "1 feed",
    `counted(2, "story")` is "2 stories"; `plural` for any other irregular noun."""
    if n == 1:
        return f"1 {singular}"
    return f"{n:,} {plural or _IRREGULAR.get(singular) or singular + 's'}"
