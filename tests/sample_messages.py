"""Messages the chat adapters' tests share."""

from __future__ import annotations

from bot.chat.message import Entry, Message, Section, Tone


def long_digest(stories: int) -> Message:
    """A digest of `stories` entries, each near every platform limit, that needs many
    messages on any platform; its footer is "f"."""
    entries = tuple(
        Entry("x" * 5000 + f" {n}", f"https://news.example.test/{n}?" + "q=1&" * 300,
              "Outlet", None, "canola", 3.0, ("e" * 3000,))
        for n in range(stories)
    )  # fmt: skip
    return Message("D" * 500, Tone.DIGEST, "t" * 5000, (Section("Canola", entries, 7),), "f")
