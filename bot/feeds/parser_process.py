"""Feed parsing and matching in a child process, so that the bot's own process keeps a
core for fetching and storing.

Parsing and matching are most of a cycle's CPU when feeds change. In threads they share
the event loop's GIL and leave a second core idle; a process pool's bookkeeping threads
cost the event loop about 0.4 ms a feed. So one child, `python -m bot.feeds.parser_process`,
reads requests on its stdin and answers on its stdout, in order:

    first frame to the child:   the watchlists and the bot's log level, pickled (it
                                builds its own Matcher and logs to the shared stderr)
    first frame from the child: ("ready",)
    request:  (id, body, url, source)
    answer:   (id, "ok", (title, item rows, warning, parser, {item index: match rows}))
              (id, "unreadable", message)      the body is not a feed (FeedParseError)
              (id, "error", traceback)         a bug in the parser or the matcher

each frame a marshal of plain tuples (published times as POSIX seconds) behind an
8-byte length: the bot reads one in a third of the time it took to unpickle Items.
Neither format is safe against hostile data, and neither needs to be: both ends are
this program, run by the same user. Both pipes are widened to 1 MiB (`widen_pipe`).

When the child dies, the feed it was reading fails with a parse error (a body that
crashes the parser must not be retried in the bot's own process) and the feeds queued
behind it go to a new child. A child that spends `parse_timeout` seconds on one body is
killed the same way: a hostile feed must not stall every poll behind it. A child that
cannot start, or dies `MAX_DEATHS` times within `DEATH_WINDOW` seconds, is given up for
threads, with an error logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import marshal
import os
import pickle
import signal
import struct
import sys
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from bot.core.collector import settle_after_startup
from bot.core.errors import FeedError
from bot.core.models import Evidence, Item, Match
from bot.feeds.parse import FeedParseError, ParsedFeed, parse_feed
from bot.matching.matcher import Matcher
from bot.matching.watchlists import Watchlist

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!Q")
MAX_DEATHS = 3
DEATH_WINDOW = 600.0  # seconds
START_TIMEOUT = 60.0  # seconds for a child to import the parsers and say it is ready
STOP_TIMEOUT = 5.0  # seconds for a child to exit once its stdin is closed
PARSE_TIMEOUT = 120.0  # seconds for one body (feedparser reads a 10 MiB feed in about 5)
PIPE_BYTES = 1 << 20  # Linux's default ceiling for an unprivileged process


@dataclass(frozen=True, slots=True)
class MatchedFeed:
    """A feed body parsed into items, with each item's watchlist matches."""

    parsed: ParsedFeed
    matches: tuple[tuple[Match, ...], ...]  # one entry per item, in `parsed.items` order


Parse = Callable[[bytes, str, str | None], Awaitable[MatchedFeed]]


def parse_and_match(body: bytes, url: str, source: str | None, matcher: Matcher) -> MatchedFeed:
    """`parse_feed`, then every item matched (raises FeedParseError like `parse_feed`)."""
    parsed = parse_feed(body, url, source)
    return MatchedFeed(parsed, tuple(tuple(matcher.match_item(i)) for i in parsed.items))


class ThreadParser:
    """Parses and matches in threads of this process."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    async def parse(self, body: bytes, url: str, source: str | None) -> MatchedFeed:
        """`parse_and_match` in a thread."""
        return await asyncio.to_thread(parse_and_match, body, url, source, self.matcher)


class ParseWorkerError(FeedError):
    """The child raised something other than FeedParseError: a bug, with its traceback."""


class _Resend(Exception):
    """The child died before it read this request: send it to the next child."""


class _StartError(Exception):
    """The child exited or stalled before it said it was ready."""


class ParseWorker:
    """Parses and matches feed bodies in one child process, started by `start` or the
    first `parse`. `matcher` (built from `watchlists`) serves once the child is given up
    for threads. Call `close()` when done.
    """

    def __init__(
        self,
        watchlists: Sequence[Watchlist],
        matcher: Matcher,
        command: Sequence[str] | None = None,
        parse_timeout: float = PARSE_TIMEOUT,
    ) -> None:
        # -P: a `bot` folder in the working directory must not shadow the package
        self._command = tuple(command or (sys.executable, "-P", "-m", "bot.feeds.parser_process"))
        self._parse_timeout = parse_timeout
        self._watchlists = tuple(watchlists)
        self._threads = ThreadParser(matcher)
        self._child: _Child | None = None
        self._lock = asyncio.Lock()
        self._deaths: deque[float] = deque(maxlen=MAX_DEATHS)
        self._in_threads = False
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The running child's process id, if one is running."""
        return self._child.pid if self._child is not None and not self._child.dead else None

    async def start(self) -> None:
        """Start the child now rather than at the first `parse`: a running bot does, so
        that its first cycle does not wait. A child that cannot start is logged, and
        parsing falls back to threads."""
        await self._running_child()

    async def parse(self, body: bytes, url: str, source: str | None) -> MatchedFeed:
        """`parse_and_match` in the child (in a thread once the child was given up).

        Raises FeedParseError for a body that is not a feed, or that the child died
        reading; ParseWorkerError for a bug in the parser or the matcher.
        """
        while True:
            child = await self._running_child()
            if child is None:
                return await self._threads.parse(body, url, source)
            try:
                return await child.parse(body, url, source)
            except _Resend:
                continue

    async def close(self) -> None:
        """Stop the child (it exits when its stdin closes; killed if it does not)."""
        self._closed = True
        async with self._lock:
            if self._child is not None:
                await self._child.stop()
                self._child = None

    async def _running_child(self) -> _Child | None:
        async with self._lock:
            if self._in_threads or self._closed:  # checked under the lock: close() takes it
                return None
            if self._child is not None and not self._child.dead:
                return self._child
            try:
                self._child = await _Child.start(
                    self._command, self._watchlists, self._parse_timeout, self._died
                )
            except (OSError, _StartError) as exc:
                log.error("cannot start the parser process (%s); parsing in threads", exc)
                self._in_threads = True
                return None
            return self._child

    def _died(self, returncode: int | None) -> None:
        """A child exited while in use: restart it next time, unless it keeps dying."""
        loop = asyncio.get_running_loop()
        self._deaths.append(loop.time())
        if len(self._deaths) == MAX_DEATHS and loop.time() - self._deaths[0] < DEATH_WINDOW:
            log.error(
                "the parser process died %d times in %.0f minutes (last exit code %s); "
                "parsing in threads from now on",
                MAX_DEATHS,
                DEATH_WINDOW / 60,
                returncode,
            )
            self._in_threads = True
        else:
            log.warning("the parser process exited (code %s); starting a new one", returncode)


class _Child:
    """One running child: requests written in order, answers matched by id."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        parse_timeout: float,
        on_death: Callable[[int | None], None],
    ) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self._proc = proc
        self._stdin = proc.stdin
        self._stdout = proc.stdout
        self._parse_timeout = parse_timeout
        self._on_death = on_death
        self._pending: dict[int, asyncio.Future[MatchedFeed]] = {}  # oldest first
        self._next_id = 0
        self._busy_since = 0.0  # when the child began the oldest pending request
        self._stopping = False
        self._stuck = False
        self.dead = False
        self.pid = proc.pid
        self._reader = asyncio.create_task(self._read_answers())
        self._watchdog = asyncio.create_task(self._watch())

    @classmethod
    async def start(
        cls,
        command: Sequence[str],
        watchlists: tuple[Watchlist, ...],
        parse_timeout: float,
        on_death: Callable[[int | None], None],
    ) -> _Child:
        """Spawn the child, give it the watchlists and wait for its ready frame. Raises
        OSError or _StartError."""
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            level = logging.getLogger("bot").getEffectiveLevel()
            proc.stdin.write(_frame(pickle.dumps((watchlists, level), protocol=5)))
            await proc.stdin.drain()
        except ConnectionError:
            pass  # it exited already: reading its ready frame says so
        try:
            ready = await asyncio.wait_for(_read_frame(proc.stdout), START_TIMEOUT)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise _StartError(f"not ready after {START_TIMEOUT:.0f} s") from exc
        except (asyncio.IncompleteReadError, ValueError, EOFError, TypeError) as exc:
            code = await _reap(proc)
            raise _StartError(f"it exited with code {code} before it was ready") from exc
        if ready != ("ready",):
            proc.kill()
            await proc.wait()
            raise _StartError(f"unexpected first frame {ready!r}")
        return cls(proc, parse_timeout, on_death)

    async def parse(self, body: bytes, url: str, source: str | None) -> MatchedFeed:
        """Send one request and wait for its answer. Raises _Resend when this child is
        gone and never read it."""
        if self.dead:
            raise _Resend
        request_id = self._next_id
        self._next_id += 1
        answer: asyncio.Future[MatchedFeed] = asyncio.get_running_loop().create_future()
        if not self._pending:  # an idle child starts on this one at once
            self._busy_since = asyncio.get_running_loop().time()
        self._pending[request_id] = answer
        try:
            self._stdin.write(_frame((request_id, body, url, source)))
            await self._stdin.drain()
        except ConnectionError:  # the pipe is closed: the child is gone
            self._pending.pop(request_id, None)
            raise _Resend from None
        return await answer

    async def stop(self) -> None:
        """Close stdin, give the child STOP_TIMEOUT seconds to exit, then kill it."""
        self._stopping = True
        if not self._stdin.is_closing():
            self._stdin.close()
        await _reap(self._proc)
        await self._reader

    async def _watch(self) -> None:
        """Kill the child once it has spent `parse_timeout` seconds on one body."""
        loop = asyncio.get_running_loop()
        while not self.dead:
            await asyncio.sleep(min(5.0, self._parse_timeout / 4))
            if self._pending and loop.time() - self._busy_since > self._parse_timeout:
                self._stuck = True
                self._proc.kill()
                return

    async def _read_answers(self) -> None:
        try:
            while True:
                request_id, status, payload = await _read_frame(self._stdout)
                self._busy_since = asyncio.get_running_loop().time()
                answer = self._pending.pop(request_id, None)
                if answer is None or answer.done():  # its poller was cancelled
                    continue
                if status == "ok":
                    answer.set_result(_matched(payload))
                elif status == "unreadable":
                    answer.set_exception(FeedParseError(payload))
                else:
                    answer.set_exception(ParseWorkerError(f"in the parser process:\n{payload}"))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the child exited
        except Exception:  # a garbled frame: this child cannot be trusted any more
            log.exception("unreadable answer from the parser process; stopping it")
            self._proc.kill()
        self.dead = True
        self._watchdog.cancel()
        returncode = await self._proc.wait()
        self._fail_pending(returncode)
        if not self._stopping:
            self._on_death(returncode)

    def _fail_pending(self, returncode: int | None) -> None:
        """The oldest unanswered request is the body the child died reading (or was
        stuck on): it fails. The child had not read the others: they are sent again.
        When the bot stopped the child, every one fails."""
        for n, answer in enumerate(self._pending.values()):
            if answer.done():
                continue
            if self._stopping:
                answer.set_exception(ParseWorkerError("the parser process was stopped"))
            elif n == 0 and self._stuck:
                answer.set_exception(
                    FeedParseError(
                        f"reading this feed took the parser process over "
                        f"{self._parse_timeout:g} s; it was stopped"
                    )
                )
            elif n == 0:
                answer.set_exception(
                    FeedParseError(
                        f"the parser process died reading this feed (exit code {returncode})"
                    )
                )
            else:
                answer.set_exception(_Resend())
        self._pending.clear()


async def _reap(proc: asyncio.subprocess.Process) -> int:
    """Wait STOP_TIMEOUT seconds for the child to exit, then kill it; its exit code.

    Never kill a child that may have exited: Popen.send_signal reaps it first, and the
    event loop then reports exit code 255 instead of the real one."""
    try:
        return await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
    except TimeoutError:
        proc.kill()
        return await proc.wait()


def _matched(payload: tuple[Any, ...]) -> MatchedFeed:
    """The MatchedFeed of a child's "ok" answer."""
    title, rows, warning, parser, match_rows = payload
    items = tuple(
        Item(key, title_, summary, url, _stamp_from_wire(published), source)
        for key, title_, summary, url, published, source in rows
    )
    matches = {n: tuple(_match_from_row(row) for row in found) for n, found in match_rows.items()}
    return MatchedFeed(
        ParsedFeed(title, items, warning, parser),
        tuple(matches.get(n, ()) for n in range(len(items))),
    )


def _match_from_row(row: tuple[Any, ...]) -> Match:
    watchlist, score, alert, evidence = row
    return Match(watchlist, score, alert, tuple(Evidence(*e) for e in evidence))


def _match_to_row(match: Match) -> tuple[Any, ...]:
    evidence = tuple((e.group, e.alias, e.field, e.text, e.similarity) for e in match.evidence)
    return (match.watchlist, match.score, match.alert, evidence)


def _stamp_to_wire(stamp: datetime | None) -> float | str | None:
    """An item's (aware UTC) published time for the answer: POSIX seconds when it has no
    fraction of a second, which is exact and 5x cheaper to write than ISO text (a tenth
    of the child's own answer work); ISO text otherwise."""
    if stamp is None:
        return None
    return stamp.isoformat() if stamp.microsecond else stamp.timestamp()


def _stamp_from_wire(value: float | str | None) -> datetime | None:
    """The published time `_stamp_to_wire` sent."""
    if value is None:
        return None
    if isinstance(value, float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(value)


def _frame(value: Any) -> bytes:
    data = marshal.dumps(value)
    return _LENGTH.pack(len(data)) + data


async def _read_frame(stream: asyncio.StreamReader) -> Any:
    (length,) = _LENGTH.unpack(await stream.readexactly(_LENGTH.size))
    return marshal.loads(await stream.readexactly(length))


# --- the child ---------------------------------------------------------------------------


def _answer(request: tuple[int, bytes, str, str | None], matcher: Matcher) -> bytes:
    """The child's answer to one request, as a frame."""
    request_id, body, url, source = request
    try:
        matched = parse_and_match(body, url, source, matcher)
        parsed = matched.parsed
        rows = tuple(
            (i.key, i.title, i.summary, i.url, _stamp_to_wire(i.published), i.source)
            for i in parsed.items
        )
        matches = {
            n: tuple(map(_match_to_row, found)) for n, found in enumerate(matched.matches) if found
        }
        payload = (parsed.title, rows, parsed.warning, parsed.parser, matches)
        return _frame((request_id, "ok", payload))
    except FeedParseError as exc:
        return _frame((request_id, "unreadable", str(exc)))
    except Exception:
        return _frame((request_id, "error", traceback.format_exc()))


def _read(requests: BinaryIO) -> Any:
    """The next frame, or None at the end of the stream."""
    header = requests.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    return marshal.loads(requests.read(length))


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The child's loop: read the watchlists, then answer each request until the end."""
    pickled = _read(requests)
    if pickled is None:
        return
    watchlists, level = pickle.loads(pickled)
    log_to_stderr(level)
    matcher = Matcher(watchlists)
    settle_after_startup()
    answers.write(_frame(("ready",)))
    answers.flush()
    while (request := _read(requests)) is not None:
        answers.write(_answer(request, matcher))
        answers.flush()


def main() -> None:
    """Run as the child: frames on stdin and stdout; anything printed goes to stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bot stops us by closing stdin
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    widen_pipe(sys.stdin.fileno())
    widen_pipe(answers.fileno())
    serve(sys.stdin.buffer, answers)


def log_to_stderr(level: int) -> None:
    """Log as the bot does (at its level, to the stderr both share), each line marked as
    the parser process's: without this, the child's log records were lost."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s (parser process): %(message)s")
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
