"""The parser process: the same items and matches as in process; a crash costs one feed."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.feeds.parse import FeedParseError
from bot.feeds.parser_process import MAX_DEATHS, ParseWorker, ParseWorkerError
from bot.feeds.parser_wire import MatchedFeed, parse_and_match
from bot.matching.matcher import Matcher
from bot.matching.watchlists import BUNDLED_DIR, load_watchlists, watchlist_files

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
URL = "https://feeds.example.test/feed.xml"
RSS = (FEEDS / "rss2.xml").read_bytes()
WATCHLISTS = load_watchlists(watchlist_files(BUNDLED_DIR))
MATCHER = Matcher(WATCHLISTS)

# A child that speaks the real protocol but dies on a body containing CRASH (as a
# parser crashing on hostile input would), never finishes one containing HANG, and
# raises a bug on one containing BUG.
FRAGILE_CHILD = """
import os, signal, time
from bot.feeds import parser_child

real_parse = parser_child.parse_and_match

def parse_and_match(body, url, source, matcher, **options):
    if b"CRASH" in body:
        os.kill(os.getpid(), signal.SIGKILL)
    if b"HANG" in body:
        time.sleep(3600)
    if b"BUG" in body:
        raise ValueError("a bug in the parser")
    return real_parse(body, url, source, matcher, **options)

parser_child.parse_and_match = parse_and_match
parser_child.main()
"""


def new_worker(command: list[str] | None = None, parse_timeout: float = 60.0) -> ParseWorker:
    return ParseWorker(WATCHLISTS, MATCHER, command, parse_timeout)


def fragile_worker(parse_timeout: float = 60.0) -> ParseWorker:
    return new_worker([sys.executable, "-c", FRAGILE_CHILD], parse_timeout)


def in_process(body: bytes, source: str | None = None) -> MatchedFeed:
    return parse_and_match(body, URL, source, MATCHER)


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody reaped yet."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


async def test_the_child_gives_the_same_items_and_matches_as_in_process() -> None:
    child = new_worker()
    matched = 0
    try:
        for path in sorted(FEEDS.iterdir()):
            body = path.read_bytes()
            try:
                expected: MatchedFeed | str = in_process(body, "Outlet")
            except FeedParseError as exc:
                expected = f"unreadable: {exc}"
            try:
                got: MatchedFeed | str = await child.parse(body, URL, "Outlet")
            except FeedParseError as exc:
                got = f"unreadable: {exc}"
            assert got == expected, path.name
            if isinstance(got, MatchedFeed):
                matched += sum(1 for found in got.matches if found)
        assert child.pid is not None, "parsed in the child, not in threads"
        assert matched >= 5, "the fixtures' seed-theme items matched in the child"
    finally:
        await child.close()


# published times at the edges of what crosses the pipe: fractions of a second, before
# 1970, the last representable second and the last microsecond (which POSIX seconds as a
# float would round into year 10000)
EDGE_TIMES = [
    "2026-11-23T08:00:00.123457Z",
    "1969-12-31T23:59:59Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999Z",
]
EDGE_FEED = (
    '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
    "<title>Edges</title>"
    + "".join(
        f"<entry><id>urn:edge:{n}</id><title>Edge {n}</title>"
        f'<link href="https://edge.example.test/{n}"/><updated>{stamp}</updated></entry>'
        for n, stamp in enumerate(EDGE_TIMES)
    )
    + "</feed>"
).encode()


async def test_published_times_cross_to_the_bot_unchanged() -> None:
    expected = in_process(EDGE_FEED)
    assert [i.published for i in expected.parsed.items] == [
        datetime.fromisoformat(stamp) for stamp in EDGE_TIMES
    ]
    child = new_worker()
    try:
        got = await child.parse(EDGE_FEED, URL, None)
    finally:
        await child.close()
    assert got == expected
    assert all(i.published is not None and i.published.tzinfo is UTC for i in got.parsed.items)


async def test_the_child_keeps_its_max_items_and_reads_the_content_type_charset() -> None:
    """Both cross the pipe: max_items once, in the child's setup; the charset with each
    body (Shift_JIS bytes with no XML declaration read right only through it)."""
    body = EDGE_FEED.replace(b' encoding="utf-8"', b"")
    body = body.replace(b"Edge 0", "日本の新聞".encode("shift_jis"))
    child = ParseWorker(WATCHLISTS, MATCHER, max_items=3)
    try:
        got = await child.parse(body, URL, None, "Shift_JIS")
    finally:
        await child.close()
    assert [i.key for i in got.parsed.items] == ["urn:edge:0", "urn:edge:2", "urn:edge:3"]
    assert got.parsed.items[0].title == "日本の新聞"
    assert got.parsed.warning == "kept 3 of 4 items (poll.max_items)"  # 1969 is the oldest


async def test_the_child_logs_to_the_shared_stderr_at_the_bots_level(
    capfd: pytest.CaptureFixture[str],
) -> None:
    unreadable = (FEEDS / "unreadable.xml").read_bytes()  # the fast parser is not used
    bot_logger = logging.getLogger("bot")
    before = bot_logger.level
    try:
        for level in (logging.INFO, logging.DEBUG):
            bot_logger.setLevel(level)
            child = new_worker()
            try:
                with pytest.raises(FeedParseError):
                    await child.parse(unreadable, URL, None)
            finally:
                await child.close()
            debug_lines = [
                line
                for line in capfd.readouterr().err.splitlines()
                if "DEBUG bot.feeds.parse (parser process): fast parser not used on" in line
            ]
            assert len(debug_lines) == (level == logging.DEBUG), debug_lines
    finally:
        bot_logger.setLevel(before)


async def test_requests_in_flight_at_once_each_get_their_own_answer() -> None:
    child = new_worker()
    bodies = [(FEEDS / name).read_bytes() for name in ("rss2.xml", "atom.xml", "cjk.xml")]
    try:
        results = await asyncio.gather(*(child.parse(b, URL, None) for b in bodies * 10))
    finally:
        await child.close()
    assert results == [in_process(b) for b in bodies * 10]


async def test_a_crash_fails_the_feed_being_read_and_resends_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = fragile_worker()
    await worker.start()
    first_pid = worker.pid
    try:
        results = await asyncio.gather(
            worker.parse(RSS, URL, None),
            worker.parse(b"<rss>CRASH</rss>", URL, None),
            worker.parse(RSS, URL, None),
            worker.parse(RSS, URL, None),
            return_exceptions=True,
        )
        assert results[0] == results[2] == results[3] == in_process(RSS)
        assert isinstance(results[1], FeedParseError)
        assert "parser process died reading this feed" in str(results[1])
        assert worker.pid not in (None, first_pid), "a new child took the resent feeds"
        assert first_pid is not None and gone(first_pid)
        assert "parser process exited" in caplog.text
    finally:
        await worker.close()


async def test_a_body_the_child_never_finishes_fails_alone_after_the_timeout() -> None:
    worker = fragile_worker(parse_timeout=0.5)
    await worker.start()
    try:
        results = await asyncio.gather(
            worker.parse(RSS, URL, None),
            worker.parse(b"<rss>HANG</rss>", URL, None),
            worker.parse(RSS, URL, None),
            return_exceptions=True,
        )
        assert results[0] == results[2] == in_process(RSS)
        assert isinstance(results[1], FeedParseError)
        assert "took the parser process over 0.5 s" in str(results[1])
    finally:
        await worker.close()


async def test_a_child_that_keeps_dying_is_given_up_for_threads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = fragile_worker()
    try:
        for _ in range(MAX_DEATHS):
            with pytest.raises(FeedParseError, match="died reading"):
                await worker.parse(b"<rss>CRASH</rss>", URL, None)
        assert "parsing in threads from now on" in caplog.text
        assert worker.pid is None
        # in threads: the same body is simply not a feed, and real feeds still parse
        with pytest.raises(FeedParseError, match="no feed found"):
            await worker.parse(b"<rss>CRASH</rss>", URL, None)
        assert await worker.parse(RSS, URL, None) == in_process(RSS)
    finally:
        await worker.close()


async def test_a_bug_in_the_child_is_an_error_with_its_traceback() -> None:
    worker = fragile_worker()
    try:
        with pytest.raises(ParseWorkerError, match="a bug in the parser"):
            await worker.parse(b"<rss>BUG</rss>", URL, None)
        assert await worker.parse(RSS, URL, None) == in_process(RSS)
    finally:
        await worker.close()


async def test_a_child_that_cannot_start_means_parsing_in_threads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = new_worker([sys.executable, "-c", "raise SystemExit(3)"])
    try:
        with caplog.at_level(logging.ERROR):
            assert await worker.parse(RSS, URL, None) == in_process(RSS)
            assert await worker.parse(RSS, URL, None) == in_process(RSS)
        errors = [r for r in caplog.records if "cannot start the parser process" in r.message]
        assert len(errors) == 1 and "exited with code 3" in errors[0].message
    finally:
        await worker.close()


async def test_a_cancelled_request_does_not_confuse_the_next() -> None:
    worker = new_worker()
    await worker.start()
    pid = worker.pid
    try:
        cancelled = asyncio.create_task(worker.parse(RSS, URL, None))
        await asyncio.sleep(0)  # sent: now waiting for its answer
        cancelled.cancel()
        atom = (FEEDS / "atom.xml").read_bytes()
        assert await worker.parse(atom, URL, None) == in_process(atom)
        assert cancelled.cancelled()
        assert worker.pid == pid, "the answer nobody waits for was dropped, not a crash"
    finally:
        await worker.close()


async def test_close_stops_the_child() -> None:
    worker = new_worker()
    await worker.start()
    pid = worker.pid
    assert pid is not None and not gone(pid)
    await worker.close()
    assert gone(pid)
    assert worker.pid is None


BOT_THAT_WILL_BE_KILLED = """
import asyncio
from bot.matching.matcher import Matcher
from bot.feeds.parser_process import ParseWorker
from bot.matching.watchlists import BUNDLED_DIR, load_watchlists, watchlist_files

async def main():
    watchlists = load_watchlists(watchlist_files(BUNDLED_DIR))
    worker = ParseWorker(watchlists, Matcher(watchlists))
    await worker.start()
    print(worker.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
@pytest.mark.slow
async def test_the_child_exits_when_the_bot_is_killed() -> None:
    """SIGKILL gives the bot no chance to stop its child: the child sees its stdin end."""
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BOT_THAT_WILL_BE_KILLED, stdout=asyncio.subprocess.PIPE
    )
    assert bot.stdout is not None
    child = int(await asyncio.wait_for(bot.stdout.readline(), 60))
    assert not gone(child)
    bot.kill()
    await bot.wait()
    for _ in range(100):
        if gone(child):
            break
        await asyncio.sleep(0.05)
    assert gone(child)


async def test_an_answer_the_bot_cannot_read_fails_its_feed_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.feeds import parser_process

    def garbled(payload: object) -> MatchedFeed:
        raise ValueError("a garbled frame")

    monkeypatch.setattr(parser_process, "matched_from_wire", garbled)
    child = new_worker()
    try:
        with pytest.raises(ParseWorkerError, match="could not be read"):
            await asyncio.wait_for(child.parse(RSS, URL, None), 30)
    finally:
        await child.close()
