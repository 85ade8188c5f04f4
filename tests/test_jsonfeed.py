"""JSON Feed 1.0 and 1.1 read like RSS and Atom; hostile JSON is a FeedParseError."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds.parse import FeedParseError, parse_feed

FIXTURES = Path(__file__).parent / "fixtures"
URL = "https://feeds.example.test/feed.json"
V1, V11 = "https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1"


def read(name: str, **kwargs: Any) -> Any:
    return parse_feed((FIXTURES / "jsonfeed" / name).read_bytes(), URL, **kwargs)


def feed(items: list[Any], **members: Any) -> bytes:
    return json.dumps({"version": V11, "title": "J", **members, "items": items}).encode()


def test_a_json_feed_1_1_reads_like_rss_and_atom() -> None:
    parsed = read("blog-1.1.json")
    assert (parsed.title, parsed.parser, parsed.warning) == (
        "Prairie Trade Notes",
        "jsonfeed",
        None,
    )
    first, second = parsed.items
    assert first.key == "https://notes.example.test/2026/11/canola-probe"
    assert first.url == "https://notes.example.test/2026/11/canola-probe"  # utm_ gone
    assert first.title == "China widens its canola probe & peas follow"
    assert first.summary == (
        "Beijing’s commerce ministry said on Tuesday that it would look at pulses too."
    )  # content_html as HTML: the script dropped
    assert first.published == datetime(2026, 11, 10, 14, 30, tzinfo=UTC)
    assert first.source == "Prairie Trade Notes"
    assert second.key == "2"
    assert second.url == "https://notes.example.test/2026/11/port-of-vancouver"  # resolved
    assert second.summary == "Rail backlogs, not demand."  # the summary before the content
    assert second.published == datetime(2026, 11, 8, 14, tzinfo=UTC)


def test_a_json_feed_1_0_with_text_content_and_no_titles() -> None:
    parsed = read("microblog-1.0.json")
    assert parsed.title == "Trade desk"
    assert [(i.key, i.title, i.summary, i.published) for i in parsed.items] == [
        (
            "1003",
            "",
            "Ottawa says the <tariff> talks resume Monday. More soon.",  # plain text kept
            datetime(2026, 11, 11, 23, 15, tzinfo=UTC),
        ),
        ("1002", "", "No word yet from Beijing.", None),
    ]


def test_a_podcast_with_a_numeric_id_an_external_url_and_extensions() -> None:
    (item,) = read("podcast-1.1.json").items
    assert item.key == "42"  # the spec: a number id is read as a string
    assert item.url == "https://news.example.test/peas-shanghai"  # external_url, no url
    assert item.summary == "We talk pulse exports."
    assert item.published == datetime(2026, 11, 1, 11, tzinfo=UTC)  # date_modified


def test_feedparsers_own_json_example() -> None:
    body = (FIXTURES / "feedparser" / "json" / "example.json").read_bytes()
    parsed = parse_feed(body, URL)
    assert parsed.title == "My Example Feed"
    assert [(i.key, i.summary, i.url) for i in parsed.items] == [
        ("2", "This is a second item.", "https://example.org/second-item"),
        ("1", "Hello, world!", "https://example.org/initial-post"),
    ]


def test_a_body_is_json_when_it_starts_with_a_brace() -> None:
    body = b"\xef\xbb\xbf \n\t" + feed([{"id": "a", "title": "T"}])
    assert parse_feed(body, URL).parser == "jsonfeed"
    with pytest.raises(FeedParseError, match="not a JSON Feed: it has no version"):
        parse_feed(b'{"items": []}', URL)
    with pytest.raises(FeedParseError, match=r"its version is 'https://jsonfeed\.org/version/2'"):
        parse_feed(b'{"version": "https://jsonfeed.org/version/2", "items": []}', URL)


def test_the_entry_cap_keeps_the_newest_items_in_document_order() -> None:
    hours = [5, 1, 9, 3, 7, 2, 8, 0, 6, 4]
    items = [
        {"id": f"n{n}", "title": f"T{n}", "date_published": f"2026-11-01T0{h}:00:00Z"}
        for n, h in enumerate(hours)
    ] + [{"id": "undated", "title": "U"}]
    parsed = parse_feed(feed(items), URL, max_items=4)
    assert [i.key for i in parsed.items] == ["n2", "n4", "n6", "n8"]  # hours 9, 7, 8, 6
    assert parsed.warning == "kept 4 of 11 items (poll.max_items)"
    dated_first = parse_feed(feed(items), URL, max_items=10)
    assert "undated" not in [i.key for i in dated_first.items]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"version": "' + V11.encode() + b'", "items": 3}', "`items` is a number, not a list"),
        (feed(["x"]), r"items\[0\] is a string, not an object"),
        (feed([{"title": 7}]), r"items\[0\].title is a number, not a string"),
        (feed([{"id": [1]}]), r"items\[0\].id is a list, not a string"),
        (feed([{"id": "x"}]).replace(b'"x"', b"1e400"), r"items\[0\].id is a number"),
        (feed([{"url": {"href": "x"}}]), r"items\[0\].url is an object"),
        (feed([], title=["T"]), "the feed.title is a list"),
        (feed([{"id": float("nan")}]), "NaN is not a JSON number"),
        (
            b'{"version": "' + V11.encode() + b'", "items": [{"id": 1' + b"0" * 5000 + b"}]}",
            "digits",
        ),
        (b'{"items": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested too deeply"),
        (b'{"version": "' + V11.encode() + b'", "items": []} trailing', "more text after"),
        (b'{"title": "\xff"}', "byte 11 is not UTF-8"),
        (b"{", "not a readable JSON Feed"),
    ],
)
def test_hostile_json_is_a_feed_error_that_says_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(FeedParseError, match=message):
        parse_feed(body, URL)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["2026-11-01T00:00:00Z", "0001-01-01T00:00:00+01:00", V1, "/rel"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "id",
        "url",
        "external_url",
        "title",
        "summary",
        "content_html",
        "content_text",
        "date_published",
        "date_modified",
        "authors",
        "_x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    members=st.dictionaries(
        st.sampled_from(["version", "title", "home_page_url", "items"]), JSON_VALUES
    ),
    items=st.lists(
        st.one_of(st.dictionaries(FIELDS, JSON_VALUES, max_size=6), JSON_VALUES), max_size=5
    ),
    version=st.sampled_from([V1, V11, None]),
)
def test_any_json_is_a_feed_or_a_feed_error_never_a_crash(
    members: dict[str, Any], items: list[Any], version: str | None
) -> None:
    document = {**members, "items": items} if version else members
    if version:
        document["version"] = version
    body = json.dumps(document).encode()
    try:
        parsed = parse_feed(body, URL, max_items=3)
    except FeedParseError as exc:
        assert str(exc) and "Traceback" not in str(exc)
    else:
        assert len(parsed.items) <= 3


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_after_a_brace_are_a_feed_or_a_feed_error(tail: bytes) -> None:
    with contextlib.suppress(FeedParseError):
        parse_feed(b"{" + tail, URL)
