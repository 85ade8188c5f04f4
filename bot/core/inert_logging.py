"""A logging Formatter whose output holds no control or invisible character but the line
breaks it puts there itself.

Log messages quote feed text (a feed's name, an item's URL, a parser's complaint about the
body), and log lines go to a terminal or a journal: an ANSI escape in a feed title could
clear the screen or set the window title of whoever reads them. The CLI's logging setup
and the parser process's both format with `InertFormatter`.
"""

from __future__ import annotations

import logging

from bot.core.safe_text import without_controls


class InertFormatter(logging.Formatter):
    """`logging.Formatter` with every record's message on one inert line (controls, line
    breaks included, become spaces; invisible characters go) and its traceback or stack
    inert but for the line breaks between its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The format filled in with the record's message made inert."""
        record.message = without_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        """The traceback, inert but for its line breaks."""
        return without_controls(super().formatException(ei), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:
        """The stack, inert but for its line breaks."""
        return without_controls(super().formatStack(stack_info), keep_newlines=True)
