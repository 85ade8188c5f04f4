"""The parser process itself: it reads requests on its stdin and writes each answer on its
stdout, in order, until its stdin ends.

The bot's `ParseWorker` (`bot.feeds.parser_process`) starts it as
`python -P -m bot.feeds.parser_child`; the frames are those of `bot.feeds.parser_wire`.
It imports only what parsing and matching need, not the bot's asyncio side, so that it
is ready soon after it starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import signal
import sys
import traceback
from typing import BinaryIO

from bot.core.collector import settle_after_startup
from bot.core.inert_logging import InertFormatter
from bot.feeds.parse import FeedParseError
from bot.feeds.parser_wire import frame, matched_to_wire, parse_and_match, read_frame_or_end
from bot.matching.matcher import Matcher

PIPE_BYTES = 1 << 20  # Linux's default ceiling for an unprivileged process


def _answer(
    request: tuple[int, bytes, str, str | None, str | None], matcher: Matcher, max_items: int
) -> bytes:
    """The child's answer to one request, as a frame."""
    request_id, body, url, source, charset = request
    try:
        matched = parse_and_match(body, url, source, matcher, charset=charset, max_items=max_items)
        return frame((request_id, "ok", matched_to_wire(matched)))
    except FeedParseError as exc:
        return frame((request_id, "unreadable", str(exc)))
    except Exception:
        return frame((request_id, "error", traceback.format_exc()))


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The child's loop: read the watchlists, then answer each request until the end."""
    pickled = read_frame_or_end(requests)
    if pickled is None:
        return
    watchlists, level, max_items = pickle.loads(pickled)
    log_to_stderr(level)
    matcher = Matcher(watchlists)
    settle_after_startup()
    answers.write(frame(("ready",)))
    answers.flush()
    while (request := read_frame_or_end(requests)) is not None:
        answers.write(_answer(request, matcher, max_items))
        answers.flush()


def main() -> None:
    """Run as the child: frames on stdin and stdout; anything printed goes to stderr."""
    # the bot stops us by closing stdin (and a bot that died, by its end): a signal meant
    # for the whole group (Ctrl-C; systemd's, timeout's, a container runtime's SIGTERM)
    # must not end us before the bot has finished with us
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    widen_pipe(sys.stdin.fileno())
    widen_pipe(answers.fileno())
    serve(sys.stdin.buffer, answers)


def log_to_stderr(level: int) -> None:
    """Log as the bot does, at its level, to the stderr both share, each line marked as
    the parser process's."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(  # inert, as the bot's own: records quote feed text
        InertFormatter("%(asctime)s %(levelname)s %(name)s (parser process): %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)


def widen_pipe(fd: int) -> None:
    """Let the pipe behind `fd` hold PIPE_BYTES (Linux; elsewhere, or when the system
    refuses, it keeps its size).

    A 64 KiB pipe holds four answers: whenever the bot's event loop was busy writing a
    batch to the store for a few milliseconds, the child stopped on a full pipe.
    """
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, set_size, PIPE_BYTES)


if __name__ == "__main__":
    main()
