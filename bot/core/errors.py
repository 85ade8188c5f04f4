"""The project's errors: one base class, one subclass per kind, each with its exit code.

Every failure wirewatch reports to a person is one of these, worded for that person; the
command line turns any of them into its message and exit code in one place
(`bot.cli.main`). Library exceptions are caught where they happen and re-raised as one of
these with what the user should check.

| class | exit code | when |
|---|---|---|
| ConfigError | 2 | the config file, a watchlist or an environment variable is wrong |
| UsageError | 2 | a bad command-line argument, `/news` argument or input file |
| DatabaseError | 1 | the database cannot be reached, read or written (or copied) |
| FeedError | 1 | a feed cannot be read |
| DeliveryError | 1, or 2 when permanent | a platform refused a message or the bot's login |
"""

from __future__ import annotations

import math


class WirewatchError(Exception):
    """A failure worded for the user; `exit_code` is what the command exits with."""

    exit_code = 1

    def lines(self) -> list[str]:
        """What the command prints on stderr."""
        return [f"wirewatch: {self}"]


class ConfigError(WirewatchError):
    """One or more problems in the configuration; `problems` are ready to print
    (`file:line: field: message` where a file is to blame)."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def lines(self) -> list[str]:
        """A heading, then one indented line per problem."""
        return ["wirewatch: configuration errors:", *(f"  {p}" for p in self.problems)]


class UsageError(WirewatchError):
    """A bad argument or input file; the text says what was expected."""

    exit_code = 2


class DatabaseError(WirewatchError):
    """The database could not be reached, read or written; the text says which and why."""

    exit_code = 1


class FeedError(WirewatchError):
    """A feed could not be fetched or read; the text says why."""

    exit_code = 1


LONGEST_RETRY_AFTER = 86_400.0  # seconds: the longest wait a platform's Retry-After sets


class DeliveryError(WirewatchError):
    """A send (or a login) that the platform refused or that did not complete.

    `retryable`: a timeout, a 5xx or a 429 (`retry_after` seconds if the platform said);
    otherwise permanent (channel gone, no permission, webhook deleted, token refused) and
    the subscriptions of that channel stop until someone fixes it.
    """

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        # a platform's number is untrusted: NaN is none, and any wait is 0 s to a day
        if retry_after is not None and not math.isnan(retry_after):
            self.retry_after: float | None = min(max(retry_after, 0.0), LONGEST_RETRY_AFTER)
        else:
            self.retry_after = None

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        """1 for a passing failure (try again later), 2 for one that needs a fix."""
        return 1 if self.retryable else 2

    def lines(self) -> list[str]:
        """At the command line a DeliveryError means an adapter could not start."""
        return [f"wirewatch: cannot start: {self.reason}"]
