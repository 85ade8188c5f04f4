"""Chat platform adapters (console, Discord, Slack) that deliver alerts and digests.

The delivery issue adds the adapter protocol and the console adapter; until then the
terminal output of a poll cycle lives in `bot.report`.
"""
