"""`wirewatch run --once` as a user runs it: a real process, a real feed server, a SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
import yaml
from feedserver import Feed, FeedServer, rss

from bot.matching.watchlists import BUNDLED_DIR, watchlist_files

CANOLA = "China imposes 100% tariff on Canadian canola oil"
QUIET = "Regional transit authority approves new bus routes"


def offline_watchlists(target: Path) -> Path:
    """The bundled watchlists without their news-search sources (no internet in tests)."""
    target.mkdir()
    for path in watchlist_files(BUNDLED_DIR):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data.pop("sources", None)
        (target / path.name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


async def wirewatch(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_run_once_three_times_reports_a_new_item_exactly_once(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    offline_watchlists(tmp_path / "watchlists")
    (tmp_path / "wirewatch.yaml").write_text(
        "default_feeds: false\n"
        "feeds:\n"
        f"  - url: {feed_server.url('/wire.xml')}\n"
        "    name: Test Wire\n"
        f"  - url: {feed_server.url('/dead.xml')}\n"
        "    name: Dead Feed\n"
    )
    feed_server.feeds["/wire.xml"] = Feed(rss([("1", QUIET, "https://news.example.test/1")]))

    code, out, _ = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 0
    assert QUIET not in out and CANOLA not in out
    assert "1 failed" in out and "Dead Feed" in out and "HTTP 404" in out  # summary names it
    assert (tmp_path / "data" / "wirewatch.db").exists()

    feed_server.feeds["/wire.xml"] = Feed(
        rss(
            [
                ("2", CANOLA, "https://news.example.test/2?utm_source=rss"),
                ("1", QUIET, "https://news.example.test/1"),
            ]
        )
    )
    code, out, _ = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 0
    # reported once under each watchlist it matches: canola, and canada-china (a duty
    # imposed by one government on the other)
    assert out.count("Canola trade and tariffs [canola]") == 1
    assert out.count("Canada–China relations [canada-china]") == 1
    assert out.count(CANOLA) == 2
    assert "https://news.example.test/2\n" in out  # canonical link, tracking removed
    assert 'canola: "canola' in out and "Test Wire" in out

    code, out, _ = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 0 and CANOLA not in out
    assert "0 new items" in out


@pytest.mark.slow
async def test_a_title_with_a_screen_clear_escape_prints_inert_in_run_once(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    offline_watchlists(tmp_path / "watchlists")
    (tmp_path / "wirewatch.yaml").write_text(  # YAML's \e is ESC, \a is BEL
        "default_feeds: false\n"
        "feeds:\n"
        f"  - url: {feed_server.url('/wire.xml')}\n"
        '    name: "Test \\e]0;pwned\\a Wire"\n'
        f"  - url: {feed_server.url('/dead.xml')}\n"
        '    name: "Dead \\e[2J\\e[H Feed"\n'
    )
    feed_server.feeds["/wire.xml"] = Feed(rss([("1", QUIET, "https://news.example.test/1")]))
    code, _, _ = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 0
    evil = "\x1b[2J\x1b[H\x1b]0;pwned\x07" + CANOLA + "\u009b31m\u202e"
    link = "https://news.example.test/2\x1b[2J"
    feed_server.feeds["/wire.xml"] = Feed(
        rss([("2", evil, link), ("1", QUIET, "https://news.example.test/1")])
    )
    code, out, err = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 0 and CANOLA in out
    assert "https://news.example.test/2%1B[2J\n" in out  # the link still leads there
    assert "Test ]0;pwned Wire" in out and "failed: Dead [2J [H Feed" in out
    code, feeds, _ = await wirewatch("feeds", cwd=tmp_path)
    assert code == 0 and "Dead [2J [H Feed" in feeds
    for text in (out, err, feeds):
        assert not any(ch in text for ch in "\x1b\x07\x9b\u202e"), text


@pytest.mark.slow
async def test_feeds_and_opml_round_trip(feed_server: FeedServer, tmp_path: Path) -> None:
    offline_watchlists(tmp_path / "watchlists")
    (tmp_path / "wirewatch.yaml").write_text("default_feeds: false\n")
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>'
        '<outline text="Folder">'
        f'<outline type="rss" text="Imported Wire" xmlUrl="{feed_server.url("/wire.xml")}"/>'
        "</outline>"
        '<outline type="rss" text="Not http" xmlUrl="file:///etc/passwd"/>'
        "</body></opml>"
    )
    feed_server.feeds["/wire.xml"] = Feed(rss([("1", QUIET, "https://news.example.test/1")]))
    code, out, _ = await wirewatch("import-opml", str(opml), cwd=tmp_path)
    assert code == 0 and "1 added" in out
    code, out, _ = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 0 and "1 ok" in out  # a plain run in the same folder polls the import
    code, out, _ = await wirewatch("feeds", cwd=tmp_path)
    assert code == 0 and "Imported Wire" in out and "ok\t" in out
    code, out, _ = await wirewatch("export-opml", cwd=tmp_path)
    assert code == 0 and 'xmlUrl="' + feed_server.url("/wire.xml") in out
    (tmp_path / "bad.opml").write_text("<html>nope</html>")
    code, _, err = await wirewatch("import-opml", str(tmp_path / "bad.opml"), cwd=tmp_path)
    assert code == 2 and "not <opml>" in err and "Traceback" not in err


@pytest.mark.slow
async def test_feeds_add_test_disable_and_remove_from_the_command_line(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    offline_watchlists(tmp_path / "watchlists")
    (tmp_path / "wirewatch.yaml").write_text(
        f"default_feeds: false\nfeeds:\n  - url: {feed_server.url('/config.xml')}\n"
    )
    feed_server.feeds["/config.xml"] = Feed(rss([("9", QUIET, "https://news.example.test/9")]))
    feed_server.feeds["/wire.xml"] = Feed(
        rss([("2", CANOLA, "https://news.example.test/2"), ("1", QUIET, "https://news.example.test/1")],
            title="Loopback Wire")
    )  # fmt: skip
    feed_server.feeds["/blog/"] = Feed(
        b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml" '
        b'href="/wire.xml"><link rel="alternate" type="application/atom+xml" href="atom">'
        b"</head><body></body></html>",
        content_type="text/html",
    )
    feed_server.feeds["/plain/"] = Feed(b"<!doctype html><html><body>hi</body></html>")
    page = feed_server.url("/blog/")

    code, out, err = await wirewatch("feeds", "test", page, cwd=tmp_path)
    assert code == 0 and "Loopback Wire" in out and "matches canola (score" in out, err
    code, out, err = await wirewatch("feeds", "add", page, "--interval", "10m", cwd=tmp_path)
    assert code == 0 and f"the page {page} names this feed" in out, err
    assert f"the page also names: {feed_server.url('/blog/atom')}" in out
    assert f"added Loopback Wire <{feed_server.url('/wire.xml')}>" in out
    code, out, _ = await wirewatch("feeds", "add", feed_server.url("/wire.xml"), cwd=tmp_path)
    assert code == 0 and "already polled: Loopback Wire" in out and "nothing changed" in out
    code, _, err = await wirewatch("feeds", "add", feed_server.url("/plain/"), cwd=tmp_path)
    assert code == 2 and "names no feed" in err and "--guess" in err and "Traceback" not in err
    code, _, err = await wirewatch("feeds", "add", "ftp://x.test/", cwd=tmp_path)
    assert code == 2 and "is not an http(s) URL" in err

    code, out, _ = await wirewatch("feeds", cwd=tmp_path)
    lines = {line.split("\t")[2]: line.split("\t") for line in out.splitlines()}
    wire = lines[feed_server.url("/wire.xml")]
    assert wire[1] == "Loopback Wire" and wire[-1] == "cli"
    config_id = lines[feed_server.url("/config.xml")][-2].removeprefix("id ")
    code, _, err = await wirewatch("feeds", "remove", config_id, cwd=tmp_path)
    assert code == 2 and "comes from the config file" in err
    code, out, _ = await wirewatch("feeds", "disable", config_id, cwd=tmp_path)
    assert code == 0 and out.startswith("disabled ")
    code, out, _ = await wirewatch("run", "--once", cwd=tmp_path)
    assert code == 0 and "cycle: 1 feed, 1 ok" in out  # the disabled one is not polled
    code, out, _ = await wirewatch("feeds", "remove", feed_server.url("/wire.xml"), cwd=tmp_path)
    assert code == 0 and out.startswith("removed Loopback Wire")
    code, out, _ = await wirewatch("feeds", cwd=tmp_path)
    assert feed_server.url("/wire.xml") not in out and "disabled by an operator\t" in out


@pytest.mark.slow
async def test_run_stops_cleanly_on_sigterm(feed_server: FeedServer, tmp_path: Path) -> None:
    offline_watchlists(tmp_path / "watchlists")
    (tmp_path / "wirewatch.yaml").write_text(
        f"default_feeds: false\nfeeds:\n  - url: {feed_server.url('/wire.xml')}\n"
    )
    feed_server.feeds["/wire.xml"] = Feed(rss([("1", QUIET, "https://news.example.test/1")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)  # the first cycle's summary
    assert b"cycle: 1 feed, 1 ok" in line
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert b"first poll of 1 feed: 1 item recorded as the baseline, not reported" in line
    proc.terminate()
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0 and b"stopped" in err and b"Traceback" not in err


@pytest.mark.slow
async def test_match_jsonl_keeps_order_and_reports_bad_lines(tmp_path: Path) -> None:
    offline_watchlists(tmp_path / "watchlists")
    lines: list[dict[str, object] | str] = [
        {"id": "a", "title": "China imposes 100% tariff on Canadian canola oil", "summary": ""},
        "not json",
        {"id": 7, "title": QUIET},
        {"title": ["not", "text"]},
    ]
    stdin = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "match", "--jsonl", cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    results = [json.loads(x) for x in out.decode().splitlines()]
    assert proc.returncode == 0 and len(results) == 4
    assert results[0]["id"] == "a"
    first = {m["watchlist"]: m for m in results[0]["matches"]}
    assert first["canola"]["alert"] is True and first["canola"]["evidence"]
    assert set(first["canola"]["evidence"][0]) == {"group", "alias", "field", "text", "similarity"}
    assert results[1]["id"] is None and "invalid JSON" in results[1]["error"]
    assert results[2] == {"id": 7, "matches": []}
    assert "must be strings" in results[3]["error"]


@pytest.mark.slow
async def test_a_sigterm_to_the_whole_process_group_stops_the_bot_quietly(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """systemd (KillMode=control-group), `timeout` and Ctrl-C signal every process of the
    bot, its parser process too: the bot stops cleanly, with no parser restarted."""
    offline_watchlists(tmp_path / "watchlists")
    feed_server.feeds["/wire.xml"] = Feed(rss([("1", QUIET, "https://news.example.test/1")]))
    (tmp_path / "wirewatch.yaml").write_text(
        f"default_feeds: false\nfeeds:\n  - url: {feed_server.url('/wire.xml')}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, start_new_session=True,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    for _ in range(200):  # until the first poll (the parser process is up by then)
        if feed_server.hits["/wire.xml"]:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"parser process exited" not in err and b"Traceback" not in err
