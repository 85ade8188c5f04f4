"""What the CLI prints to a terminal: feed text inert in every listing, table, error and
log line, whatever a feed (or a row stored before the parser cleaned text) holds."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from bot.cli import main as cli_main
from bot.cli.jsonl import inert_json
from bot.cli.main import _report
from bot.cli.reports import (
    print_evaluation,
    print_feed_health,
    print_reports,
    print_subscriptions,
    print_summary,
)
from bot.core.errors import ConfigError, FeedError
from bot.core.inert_logging import InertFormatter
from bot.core.models import (
    CycleSummary,
    Delivery,
    DeliveryState,
    Evidence,
    FeedState,
    FetchResult,
    Item,
    Match,
    Outcome,
    PollResult,
    Report,
    Subscription,
)
from bot.core.safe_text import CONTROLS, INVISIBLE
from bot.feeds import parser_child
from bot.matching.evaluation import Evaluation, Example, Miss, Score

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SCREEN_CLEAR = "\x1b[2J\x1b[H"
WINDOW_TITLE = "\x1b]0;pwned\x07"
C1_CSI = "\x9b2J"
HIDDEN = "\u202e\u200b\U000e0041\u3164"
EVIL = f"{SCREEN_CLEAR}Canola{WINDOW_TITLE} tariff{C1_CSI}{HIDDEN}\r\nfake line\tend"
# rich's own colours on a terminal are `ESC [ … m`; any other escape came from a feed
_FOREIGN_ESCAPE = re.compile(r"\x1b(?!\[[0-9;]*m)")


def assert_inert(out: str, *, styled: bool = False, ours: str = "\n") -> None:
    """No control character but `ours` (line breaks, and tabs between fields for scripts)
    and, on a terminal, rich's own colour codes; no invisible character, and no line the
    feed text started."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", out) if styled else out
    assert not _FOREIGN_ESCAPE.search(out), repr(out[:300])
    for ch in text:
        assert ch in ours or not (CONTROLS.match(ch) or INVISIBLE.match(ch)), repr(ch)
    assert not any(line.startswith("fake line") for line in text.splitlines())
    assert "Canola" in text and "[2J" in text  # the text is shown, only its escapes are not


def console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=300, highlight=False), out


def feed_state(name: str = EVIL, error: str | None = EVIL) -> FeedState:
    return FeedState(
        id=1, url=f"https://feeds.example.test/{EVIL}", name=name, origin="opml",
        verified=True, active=True, interval=None, fetch_url=None, etag=None,
        last_modified=None, body_hash=None, disabled_reason=None, consecutive_failures=3,
        last_status=500, last_success_at=NOW - timedelta(days=1), last_error=error,
        last_error_at=NOW - timedelta(hours=1), next_poll_at=None, hold_until=None,
        first_polled_at=None, items_seen=4,
    )  # fmt: skip


def report() -> Report:
    item = Item("k", EVIL, EVIL, f"https://news.example.test/{EVIL}", NOW, EVIL)
    evidence = (Evidence("crop", "canola", "title", EVIL, 100),)
    return Report(item, Match("canola", 90, True, evidence))


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_a_title_with_a_screen_clear_escape_prints_inert_in_the_match_listing(
    terminal: bool,
) -> None:
    term, out = console(terminal=terminal)
    print_reports(term, [report()], [])
    assert_inert(out.getvalue(), styled=terminal)


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_a_failing_feed_with_escapes_in_its_name_and_error_prints_inert_in_the_summary(
    terminal: bool,
) -> None:
    failed = PollResult(feed_state(), Outcome.FAILED, FetchResult(None, error=EVIL), NOW)
    term, out = console(terminal=terminal)
    print_summary(term, CycleSummary((failed,), 0, ()), 1.0)
    assert_inert(out.getvalue(), styled=terminal)


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_a_feed_name_url_and_error_with_escapes_print_inert_in_feeds(terminal: bool) -> None:
    term, out = console(terminal=terminal)
    print_feed_health(term, [feed_state()], NOW)
    assert_inert(out.getvalue(), styled=terminal, ours="\n" if terminal else "\n\t")
    if not terminal:  # for scripts: tab-separated fields on one line
        (line,) = out.getvalue().splitlines()
        assert len(line.split("\t")) == 11  # the last: parse warning, id, origin


def test_a_platform_error_with_escapes_prints_inert_in_subscriptions() -> None:
    sub = Subscription(
        id=1, key="config:x", channel="slack:C1", watchlists=("canola",), alerts=True,
        digest=None, timezone="UTC", min_score=0, quiet_hours=None, nothing_new=False,
        origin="config", active=True, disabled_reason=EVIL, digest_watermark=0,
        next_digest_at=None, last_digest_at=None,
    )  # fmt: skip
    failure = Delivery(
        id=1, subscription_id=1, channel="slack:C1", kind="alert", story_id=1, payload=None,
        state=DeliveryState.FAILED, attempts=5, next_attempt_at=NOW, created_at=NOW,
        last_error=EVIL, message_id=None,
    )  # fmt: skip
    term, out = console(terminal=False)
    print_subscriptions(term, [sub], {"failed": 1}, [failure])
    assert_inert(out.getvalue(), ours="\n\t")
    first, _outbox, failed = out.getvalue().splitlines()
    assert len(first.split("\t")) == 5 and len(failed.split("\t")) == 5


def test_an_example_title_with_escapes_prints_inert_in_eval() -> None:
    example = Example(EVIL, "", frozenset({"canola"}), f"ex.jsonl:1 {EVIL}")
    miss = Miss(example, "canola", "false negative", None)
    result = Evaluation((Score("canola", 0, 0, 1),), (miss,), 1)
    term, out = console(terminal=False)
    print_evaluation(term, result)
    assert_inert(out.getvalue())


def test_an_error_quoting_feed_text_prints_inert(capsys: pytest.CaptureFixture[str]) -> None:
    assert _report(FeedError(f"feed broke: {EVIL}")) == 1
    assert _report(ConfigError([f"wirewatch.yaml:3: feeds: {EVIL}"])) == 2
    err = capsys.readouterr().err
    assert_inert(err)
    assert "\n  wirewatch.yaml:3: feeds: " in err  # the indentation is ours and kept


# --- logs ----------------------------------------------------------------------------------


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("wirewatch.test", logging.WARNING, __file__, 1, msg, args, info)


def test_a_log_line_quoting_feed_text_with_escapes_is_inert() -> None:
    formatter = InertFormatter("%(levelname)s %(name)s: %(message)s")
    line = formatter.format(record("%s: malformed feed (%s)", EVIL, f"<title>{EVIL}</title>"))
    assert "\n" not in line and line.startswith("WARNING wirewatch.test: ")
    assert_inert(line)


def test_a_traceback_quoting_feed_text_keeps_only_its_own_line_breaks() -> None:
    try:
        raise ValueError(f"cannot parse {WINDOW_TITLE}{SCREEN_CLEAR}Canola [2J")
    except ValueError as exc:
        text = InertFormatter("%(message)s").format(record("failed on %s", EVIL, exc=exc))
    lines = text.splitlines()
    assert lines[0].startswith("failed on ") and lines[1] == "Traceback (most recent call last):"
    assert lines[-1].startswith("ValueError: cannot parse ")
    assert_inert(text)


@pytest.mark.parametrize("tty", [False, True], ids=["plain", "rich"])
def test_the_cli_and_the_parser_process_log_through_the_inert_formatter(
    tty: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed: list[logging.Handler] = []

    def basic_config(**kwargs: object) -> None:
        handlers = kwargs["handlers"]
        assert isinstance(handlers, list)
        installed.extend(handlers)

    stderr = io.StringIO()
    monkeypatch.setattr(stderr, "isatty", lambda: tty)
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(logging, "basicConfig", basic_config)
    cli_main._setup_logging(verbose=False)
    parser_child.log_to_stderr(logging.INFO)
    assert len(installed) == 2
    for handler in installed:
        assert isinstance(handler.formatter, InertFormatter)
        handler.handle(record("%s", EVIL))
    assert_inert(stderr.getvalue(), styled=tty)


# --- match --jsonl ---------------------------------------------------------------------------


@given(st.text() | st.sampled_from([EVIL, "\ud800", "\x85\u2028", "\U000e0041"]))
def test_match_jsonl_output_is_the_same_data_and_inert(text: str) -> None:
    line = inert_json({"id": text, "matches": [{"text": text}]})
    assert json.loads(line) == {"id": text, "matches": [{"text": text}]}
    assert not CONTROLS.search(line) and not INVISIBLE.search(line)
