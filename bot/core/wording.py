"""Words for people: counts ("1 feed", "3 stories") and values quoted in messages."""

from __future__ import annotations

_IRREGULAR = {
    "story": "stories", "entry": "entries", "query": "queries", "delivery": "deliveries",
    "match": "matches",
}  # fmt: skip


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """`n` and the noun in the number it takes: `counted(1, "feed")` is "1 feed",
    `counted(2, "story")` is "2 stories"; `plural` for any other irregular noun."""
    if n == 1:
        return f"1 {singular}"
    return f"{n:,} {plural or _IRREGULAR.get(singular) or singular + 's'}"


def quoted(value: object) -> str:
    """`value` as a message quotes it: its repr, cut to 40 characters (a number of 40
    digits or more is "a huge number")."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return "a huge number"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
