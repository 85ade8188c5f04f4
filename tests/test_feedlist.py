"""The feed list: bundled defaults, config feeds and watchlist sources, one per URL; the
bundled list itself, entry by entry, and its groups turned off from the config."""

from __future__ import annotations

import datetime as dt
import re
from importlib.resources import files
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import REPO

from bot.core.config import DefaultFeeds, FeedConfig, Settings
from bot.core.feed_groups import FEED_GROUPS, FEED_STATUSES
from bot.feeds.feedlist import BUNDLED_FILE, bundled_feeds, declared_feeds, default_feeds
from bot.matching.watchlists import BUNDLED_DIR, load_watchlists, watchlist_files

TEXT = files("bot.feeds").joinpath(BUNDLED_FILE).read_text(encoding="utf-8")
ENTRIES = yaml.safe_load(TEXT)["feeds"]
# the lines of each entry: from its `- url:` to the next one's, or the next section
BLOCKS = [block for block in re.split(r"(?m)^(?=  - url: )", TEXT)[1:]]


def test_every_bundled_entry_is_a_unique_named_grouped_feed_with_a_status() -> None:
    watchlists = {w.id for w in load_watchlists(watchlist_files(BUNDLED_DIR))}
    urls = [entry["url"] for entry in ENTRIES]
    assert len(set(urls)) == len(urls) == len(BLOCKS)
    assert len({url.lower().rstrip("/") for url in urls}) == len(urls)  # not even nearly alike
    for entry in ENTRIES:
        url = entry["url"]
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.hostname and "." in parts.hostname, url
        assert not re.search(r"\s", url) and url.isascii(), url
        assert isinstance(entry["name"], str) and entry["name"].strip(), url
        assert entry["group"] in FEED_GROUPS, url
        assert entry["status"] in FEED_STATUSES, url
        seen = entry["last_seen"]
        assert seen is None or isinstance(seen, dt.date) or re.fullmatch(r"\d{4}-\d\d", seen)
        assert set(entry["topics"]) <= watchlists, url
        assert set(entry) <= {"url", "name", "group", "status", "last_seen", "topics"}, url
    assert {entry["group"] for entry in ENTRIES} == set(FEED_GROUPS)  # no group is empty


@pytest.mark.parametrize("block", BLOCKS, ids=[e["name"] for e in ENTRIES])
def test_every_bundled_entry_says_what_it_is_and_where_its_url_is_documented(block: str) -> None:
    assert re.search(r"(?m)^    # what: \S", block)
    documented = re.search(r"(?m)^    # documented: (.+)$", block)
    assert documented and len(documented.group(1)) > 20


def test_the_count_the_list_and_the_readme_give_is_the_list_s() -> None:
    count = len(ENTRIES)
    assert f"{count} feeds in {len(FEED_GROUPS)} groups" in TEXT.split("\nfeeds:")[0]
    assert f"{count} bundled feeds" in (REPO / "README.md").read_text(encoding="utf-8")
    docs = " ".join((REPO / "docs" / "feeds.md").read_text(encoding="utf-8").split())
    assert f"{count} bundled feeds" in docs
    said = re.search(
        r"items: (\d+) feeds, shown as verified\).*contradicts it: (\d+)\).*is thin: (\d+),", docs
    )
    assert said is not None
    statuses = [sum(1 for e in ENTRIES if e["status"] == s) for s in FEED_STATUSES]
    assert [int(n) for n in said.groups()] == statuses


def test_a_bundled_feed_is_verified_when_its_check_confirmed_it() -> None:
    feeds = default_feeds()
    assert [f.url for f in feeds] == [e["url"] for e in ENTRIES]
    for feed, entry in zip(feeds, ENTRIES, strict=True):
        assert feed.origin == "default" and feed.name == entry["name"]
        assert feed.verified is (entry["status"] == "confirmed")


def test_the_feeds_issue_22_found_wrong_are_corrected() -> None:
    urls = {e["url"]: e for e in ENTRIES}
    gone = (
        "english.kyodonews.net", "nhkworld/en/news/rss.xml", "chinadaily.com.cn",
        "dept=agricultureagrifoodcanada", "pm.gc.ca/en/rss.xml",
    )  # fmt: skip
    assert not [url for url in urls for wrong in gone if wrong in url]
    assert "https://news.yahoo.co.jp/rss/media/kyodonews/all.xml" in urls
    assert "https://www3.nhk.or.jp/rss/news/cat0.xml" in urls
    assert "https://pm.gc.ca/en/news.rss" in urls
    assert any("dept=agricultureagrifood&" in url for url in urls)
    assert "Asia" not in urls["https://www.scmp.com/rss/91/feed"]["name"]


def test_groups_are_left_out_or_chosen_and_true_and_false_still_work() -> None:
    def groups(value: object) -> set[str]:
        settings = Settings.model_validate({"default_feeds": value, "watchlist_sources": False})
        chosen = {f.url for f in declared_feeds(settings, [])}
        return {b.group for b in bundled_feeds() if b.spec.url in chosen}

    assert groups(True) == set(FEED_GROUPS) and groups(False) == set()
    assert groups({"exclude": ["news-search", "china"]}) == set(FEED_GROUPS) - {
        "news-search",
        "china",
    }
    assert groups({"include": ["agriculture"]}) == {"agriculture"}
    assert groups({"include": []}) == set() and groups({}) == set(FEED_GROUPS)
    assert not DefaultFeeds.of(False) and DefaultFeeds.of(True)


def test_a_config_entry_for_a_bundled_url_sets_its_request_and_keeps_its_name() -> None:
    producer = next(b.spec for b in bundled_feeds() if "producer.com" in b.spec.url)
    browser = "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0.0.0 Safari/537.36"
    settings = Settings(
        feeds=[FeedConfig(url=producer.url, user_agent=browser, headers={"Accept": "text/xml"})]
    )
    feeds = {f.url: f for f in declared_feeds(settings, [])}
    mine = feeds[producer.url]
    assert (mine.name, mine.origin, mine.user_agent) == (producer.name, "config", browser)
    assert mine.headers == (("Accept", "text/xml"),)
    assert sum(1 for url in feeds if url == producer.url) == 1


def test_config_feeds_win_and_sources_join() -> None:
    watchlists = load_watchlists(watchlist_files(BUNDLED_DIR))
    first_default = default_feeds()[0]
    settings = Settings(feeds=[FeedConfig(url=first_default.url, name="Mine")])
    feeds = {f.url: f for f in declared_feeds(settings, watchlists)}
    assert feeds[first_default.url].name == "Mine" and feeds[first_default.url].origin == "config"
    sources = {s.url for w in watchlists for s in w.sources}
    assert sources <= set(feeds)
    assert not {f.url for f in declared_feeds(Settings(default_feeds=False), [])}
