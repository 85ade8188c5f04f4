"""`wirewatch parse FILE...`: what the bot would store from local files; a file it cannot
read is an error on its own line, never the end of the command."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.core.safe_text import CONTROLS, INVISIBLE

FIXTURES = Path(__file__).parent / "fixtures"
RSS2 = FIXTURES / "feeds" / "rss2.xml"


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the built-in defaults, whatever the developer's folder holds


def jsonl(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(["parse", "--jsonl", *args]) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def test_each_file_is_one_json_line_with_its_parser_and_items(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [RSS2, FIXTURES / "feeds" / "atom.xml", FIXTURES / "jsonfeed" / "blog-1.1.json"]
    lines = jsonl([str(f) for f in files], capsys)
    assert [(line["file"], line["parser"], line["error"]) for line in lines] == [
        (str(files[0]), "fast", None),
        (str(files[1]), "feedparser", None),  # xml:base
        (str(files[2]), "jsonfeed", None),
    ]
    first = lines[0]["items"][0]
    assert set(first) == {"key", "title", "summary", "link", "published"}
    assert first["key"] == "exnews-2026-11-10-0041"
    assert first["title"].startswith("China extends anti-dumping tariff on Canadian canola")
    assert first["link"] == (
        "https://news.example.test/world/2026/11/10/china-canola-tariff-extension"
    )
    assert first["published"] == "2026-11-10T13:30:00Z"
    assert len(lines[0]["items"]) == 4 and lines[0]["warning"] is None


def test_a_file_that_cannot_be_read_is_an_error_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [
        str(tmp_path / "missing.xml"),
        str(tmp_path),
        str(FIXTURES / "feeds" / "garbage.bin"),
        str(FIXTURES / "feeds" / "unreadable.xml"),
        str(RSS2),
    ]
    lines = jsonl(files, capsys)
    errors = [line["error"] for line in lines]
    assert errors[0] == "cannot read it: No such file or directory"
    assert errors[1] == "cannot read it: Is a directory"
    assert errors[2].startswith("not a readable feed")  # bytes
    assert errors[3] == "this is a web page, not a feed, and it names no feed"  # as a poll says
    assert errors[4] is None and len(lines[4]["items"]) == 4  # and the next file is read
    assert all(line["parser"] is None and line["items"] == [] for line in lines[:4])
    (tmp_path / "wirewatch.yaml").write_text("poll:\n  max_bytes: 1KiB\n")
    (too_big,) = jsonl([str(RSS2)], capsys)  # 3 KB
    assert too_big["error"] == "the feed is larger than poll.max_bytes (1 KiB)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_file_is_an_error_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked.xml"
    locked.write_bytes(RSS2.read_bytes())
    locked.chmod(0)
    (line,) = jsonl([str(locked)], capsys)
    assert line["error"] == "cannot read it: Permission denied"


def test_relative_links_resolve_against_the_base_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "relative.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>R</title><item><title>A</title>'
        "<link>/a/1?utm_source=x</link></item></channel></rss>"
    )
    (unresolved,) = jsonl([str(feed)], capsys)
    assert unresolved["items"][0]["link"] is None  # a file:// base: no http(s) link
    (resolved,) = jsonl(["--base-url", "https://site.example.test/feed", str(feed)], capsys)
    assert resolved["items"][0]["link"] == "https://site.example.test/a/1"
    assert main(["parse", "--base-url", "ftp://x", str(feed)]) == 2
    assert "--base-url must be an http(s) URL" in capsys.readouterr().err


def test_the_item_cap_is_poll_max_items(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = "".join(f"<item><guid>g{n}</guid><title>T{n}</title></item>" for n in range(12))
    feed = tmp_path / "many.xml"
    feed.write_text(f'<rss version="2.0"><channel><title>M</title>{items}</channel></rss>')
    (tmp_path / "wirewatch.yaml").write_text("poll:\n  max_items: 10\n")
    (line,) = jsonl([str(feed)], capsys)
    assert len(line["items"]) == 10 and line["warning"] == "kept 10 of 12 items (poll.max_items)"


def test_the_table_shows_items_and_errors_and_nothing_that_drives_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = tmp_path / "hostile\x1b[2J.xml"
    hostile.write_text(
        '<rss version="2.0"><channel><title>Evil\x1b]0;pwned\x07 Wire</title><item>'
        "<title>Canola\x1b[31m tariff</title><link>https://x.example.test/1</link>"
        "</item></channel></rss>"
    )
    assert main(["parse", str(RSS2), str(hostile), str(tmp_path / "missing.xml")]) == 0
    out = capsys.readouterr().out
    assert "4 items, fast parser" in out and "Example News" in out
    assert "China extends" in out and "2026-11-10 13:30 UTC" in out
    assert "[31m tariff" in out and "]0;pwned Wire" in out  # each ESC and BEL gone
    assert "missing.xml  error: cannot read it: No such file or directory" in out
    assert not CONTROLS.search(out.replace("\n", "")) and not INVISIBLE.search(out)


def test_the_jsonl_lines_are_inert_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = tmp_path / "odd\u202ename\x1b.xml"
    assert main(["parse", "--jsonl", str(name)]) == 0
    printed = capsys.readouterr().out
    assert "\\u202e" in printed and "\\u001b" in printed  # written as escapes
    assert not CONTROLS.search(printed.rstrip("\n")) and not INVISIBLE.search(printed)
    assert json.loads(printed)["file"] == str(name)  # the data kept exact


def test_parse_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["parse"])
    assert exit_.value.code == 2
