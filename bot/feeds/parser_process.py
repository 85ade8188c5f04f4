"""Feed parsing and matching in a child process, so that the bot's own process keeps a
core for fetching and storing.

Parsing and matching are most of a cycle's CPU when feeds change. In threads they share
the event loop's GIL and leave a second core idle; a process pool's bookkeeping threads
cost the event loop about 0.4 ms a feed. So one child, `python -m bot.feeds.parser_child`,
reads requests on its stdin and answers on its stdout, in order, in the frames that
`bot.feeds.parser_wire` describes.

When the child dies, the feed it was reading fails with a parse error (a body that
crashes the parser must not be retried in the bot's own process) and the feeds queued
behind it go to a new child. A child that spends `parse_timeout` seconds on one body is
killed the same way: a hostile feed must not stall every poll behind it. A child that
cannot start, or dies `MAX_DEATHS` times within `DEATH_WINDOW` seconds, is given up for
threads, with an error logged.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from bot.core.config import DEFAULT_MAX_ITEMS
from bot.core.errors import FeedError
from bot.feeds.parse import FeedParseError
from bot.feeds.parser_wire import (
    MatchedFeed,
    frame,
    matched_from_wire,
    parse_and_match,
    read_frame,
)
from bot.matching.matcher import Matcher
from bot.matching.watchlists import Watchlist

log = logging.getLogger(__name__)

MAX_DEATHS = 3
DEATH_WINDOW = 600.0  # seconds
START_TIMEOUT = 60.0  # seconds for a child to import the parsers and say it is ready
STOP_TIMEOUT = 5.0  # seconds for a child to exit once its stdin is closed
PARSE_TIMEOUT = 120.0  # seconds for one body (feedparser reads a 10 MiB feed in about 5)


# (body, url, source, Content-Type charset) → the feed's items (at most max_items) matched
Parse = Callable[[bytes, str, str | None, str | None], Awaitable[MatchedFeed]]


class ThreadParser:
    """Parses and matches in threads of this process, at most `max_items` items a feed."""

    def __init__(self, matcher: Matcher, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        self.matcher = matcher
        self.max_items = max_items

    async def parse(
        self, body: bytes, url: str, source: str | None, charset: str | None = None
    ) -> MatchedFeed:
        """`parse_and_match` in a thread."""
        return await asyncio.to_thread(
            partial(
                parse_and_match,
                body,
                url,
                source,
                self.matcher,
                charset=charset,
                max_items=self.max_items,
            )
        )


class ParseWorkerError(FeedError):
    """The child raised something other than FeedParseError: a bug, with its traceback."""


class _Resend(Exception):
    """The child died before it read this request: send it to the next child."""


class _StartError(Exception):
    """The child exited or stalled before it said it was ready."""


class ParseWorker:
    """Parses and matches feed bodies in one child process, started by `start` or the
    first `parse`, at most `max_items` items a feed. `matcher` (built from `watchlists`)
    serves once the child is given up for threads. Call `close()` when done.
    """

    def __init__(
        self,
        watchlists: Sequence[Watchlist],
        matcher: Matcher,
        command: Sequence[str] | None = None,
        parse_timeout: float = PARSE_TIMEOUT,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> None:
        # -P: a `bot` folder in the working directory must not shadow the package
        self._command = tuple(command or (sys.executable, "-P", "-m", "bot.feeds.parser_child"))
        self._parse_timeout = parse_timeout
        self._watchlists = tuple(watchlists)
        self._max_items = max_items
        self._threads = ThreadParser(matcher, max_items)
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

    async def parse(
        self, body: bytes, url: str, source: str | None, charset: str | None = None
    ) -> MatchedFeed:
        """`parse_and_match` in the child (in a thread once the child was given up).

        Raises FeedParseError for a body that is not a feed, or that the child died
        reading; ParseWorkerError for a bug in the parser or the matcher.
        """
        while True:
            child = await self._running_child()
            if child is None:
                return await self._threads.parse(body, url, source, charset)
            try:
                return await child.parse(body, url, source, charset)
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
                    self._command,
                    (self._watchlists, self._max_items),
                    self._parse_timeout,
                    self._died,
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
        setup: tuple[tuple[Watchlist, ...], int],
        parse_timeout: float,
        on_death: Callable[[int | None], None],
    ) -> _Child:
        """Spawn the child, give it the watchlists and max_items (`setup`) and wait for
        its ready frame. Raises OSError or _StartError."""
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            watchlists, max_items = setup
            level = logging.getLogger("bot").getEffectiveLevel()
            proc.stdin.write(frame(pickle.dumps((watchlists, level, max_items), protocol=5)))
            await proc.stdin.drain()
        except ConnectionError:
            pass  # it exited already: reading its ready frame says so
        try:
            ready = await asyncio.wait_for(read_frame(proc.stdout), START_TIMEOUT)
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

    async def parse(
        self, body: bytes, url: str, source: str | None, charset: str | None
    ) -> MatchedFeed:
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
            self._stdin.write(frame((request_id, body, url, source, charset)))
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
                request_id, status, payload = await read_frame(self._stdout)
                self._busy_since = asyncio.get_running_loop().time()
                answer = self._pending.pop(request_id, None)
                if answer is None or answer.done():  # its poller was cancelled
                    continue
                if status == "ok":
                    try:
                        answer.set_result(matched_from_wire(payload))
                    except Exception:  # its poller must not wait forever: fail it, then us
                        answer.set_exception(ParseWorkerError("an answer could not be read"))
                        raise
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
