"""The address guard on feeds added from chat: each kind of address refused with its
reason, at the URL and at the connection, on every redirect hop; the operator's own
feeds and `poll.allow_private` untouched by it."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest
from feedserver import Feed, FeedServer, redirect, rss
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.core.config import FeedConfig
from bot.feeds.address_guard import AddressGuard, AddressRefused, address_kind, literal_address
from bot.feeds.fetch import Fetcher, FetchLimits

BODY = rss([("1", "Harvest report", "https://news.example.test/1")])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/feed", "127.0.0.1: a loopback address"),
        ("http://127.8.9.10:8080/", "127.8.9.10: a loopback address"),
        ("http://[::1]/", "::1: a loopback address"),
        ("http://10.1.2.3/", "10.1.2.3: a private address"),
        ("http://172.16.0.1/", "172.16.0.1: a private address"),
        ("http://192.168.1.1/", "192.168.1.1: a private address"),
        ("http://[fd12:3456::1]/", "fd12:3456::1: a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254: a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254: a cloud metadata address"),
        ("http://100.100.100.200/", "100.100.100.200: a cloud metadata address"),
        ("http://169.254.10.1/", "169.254.10.1: a link-local address"),
        ("http://[fe80::1]/", "fe80::1: a link-local address"),
        ("http://224.0.0.251/", "224.0.0.251: a multicast address"),
        ("http://[ff02::1]/", "ff02::1: a multicast address"),
        ("http://0.0.0.0/", "0.0.0.0: an unspecified address"),
        ("http://[::]/", "::: an unspecified address"),
        ("http://240.0.0.1/", "240.0.0.1: a private address"),  # Python counts 240/4 private
        ("http://100.64.0.1/", "100.64.0.1: a reserved address"),  # carrier-grade NAT
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1: a loopback address (IPv4-mapped 127.0.0.1)"),
        ("http://[::ffff:a9fe:a9fe]/",
         "::ffff:a9fe:a9fe: a cloud metadata address (IPv4-mapped 169.254.169.254)"),
        ("http://[2002:7f00:1::]/", "2002:7f00:1::: a loopback address (6to4 127.0.0.1)"),
        ("http://[2002:a00:1::1]/", "2002:a00:1::1: a private address (6to4 10.0.0.1)"),
        ("http://[64:ff9b::a9fe:a9fe]/",
         "64:ff9b::a9fe:a9fe: a cloud metadata address (NAT64 169.254.169.254)"),
        ("http://2130706433/", "127.0.0.1 (written 2130706433): a loopback address"),
        ("http://0x7f.1/", "127.0.0.1 (written 0x7f.1): a loopback address"),
        ("http://017700000001/", "127.0.0.1 (written 017700000001): a loopback address"),
        ("http://0177.0.0.01/", "127.0.0.1 (written 0177.0.0.01): a loopback address"),
        ("http://127.1/", "127.0.0.1 (written 127.1): a loopback address"),
        ("http://0xa9fea9fe/", "169.254.169.254 (written 0xa9fea9fe): a cloud metadata address"),
        ("ftp://news.example.test/feed", "only http and https feeds can be added from chat"),
        ("file:///etc/passwd", "only http and https feeds can be added from chat"),
        ("gopher://127.0.0.1:6379/_INFO", "only http and https feeds can be added from chat"),
        ("http:///feed", "the URL names no host"),
    ],
)  # fmt: skip
async def test_each_kind_of_forbidden_address_is_refused_with_its_reason(
    url: str, reason: str
) -> None:
    assert reason in (AddressGuard().url_refusal(url) or "")
    async with Fetcher(FetchLimits()) as fetcher:  # refused before any connection
        result = await fetcher.fetch(url, guarded=True)
    assert result.error_kind == "refused" and reason in (result.error or ""), result


@pytest.mark.parametrize(
    "url",
    ["https://news.example.test/feed", "http://93.184.215.14/rss", "http://[2606:4700::1]/",
     "http://8.8.8.8/", "https://0x5d.0xb8.0xd7.0x0e.example.test/"],
)  # fmt: skip
def test_public_addresses_and_names_pass_the_url_check(url: str) -> None:
    assert AddressGuard().url_refusal(url) is None


def test_inet_aton_spellings_read_as_the_resolver_reads_them() -> None:
    for spelled in ("2130706433", "0x7f.1", "017700000001", "127.1", "0x7F000001", "127.0.1"):
        assert literal_address(spelled) == ipaddress.ip_address("127.0.0.1"), spelled
    assert literal_address("[::1]") == ipaddress.ip_address("::1")
    assert literal_address("fe80::1%eth0") == ipaddress.ip_address("fe80::1")
    for name in ("news.example.test", "cafe", "0x7f.example", "1.2.3.4.5", "08.1"):
        assert literal_address(name) is None, name


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_an_ipv4_address_inside_ipv6_is_judged_as_itself(value: int) -> None:
    v4 = ipaddress.IPv4Address(value)
    kind = address_kind(v4)
    for wrapped in (f"::ffff:{v4}", f"2002:{value >> 16:x}:{value & 0xFFFF:x}::1",
                    f"64:ff9b::{v4}"):  # fmt: skip
        assert address_kind(ipaddress.ip_address(wrapped)) == kind, wrapped


def test_the_socket_factory_refuses_before_a_socket_exists() -> None:
    guard = AddressGuard()
    with pytest.raises(AddressRefused, match=r"169\.254\.169\.254: a cloud metadata address"):
        guard.socket_factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80)))
    with pytest.raises(AddressRefused, match="fe80::1: a link-local address"):
        guard.socket_factory((socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%2", 80, 0, 2)))
    allowed = AddressGuard(["10.0.0.0/8"])
    sock = allowed.socket_factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 80)))
    sock.close()


def test_the_allow_list_takes_addresses_ranges_and_host_names() -> None:
    guard = AddressGuard(
        ["127.0.0.1", "10.0.0.0/8", "[fd00::1]", "Intranet.Example.", "::ffff:0:0/96"]
    )
    assert guard.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert guard.refusal(ipaddress.ip_address("127.0.0.2")) is not None
    assert guard.refusal(ipaddress.ip_address("10.200.0.1")) is None
    assert guard.refusal(ipaddress.ip_address("fd00::1")) is None
    assert guard.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None  # the range, or the v4
    assert guard.allows_host("intranet.example") and not guard.allows_host("example")
    assert guard.url_refusal("http://intranet.example/feed") is None


@pytest.fixture
async def loopback_only() -> AsyncIterator[Fetcher]:
    async with Fetcher(FetchLimits(allow_private=("127.0.0.1",))) as fetcher:
        yield fetcher


async def test_a_name_is_judged_by_the_address_it_resolves_to_at_connect_time(
    feed_server: FeedServer,
) -> None:
    """What DNS rebinding relies on: a name that passes the URL check and answers with a
    forbidden address when the connection is made. `localhost` resolves to loopback."""
    feed_server.feeds["/feed"] = Feed(BODY)
    url = f"http://localhost:{feed_server.port}/feed"
    assert AddressGuard().url_refusal(url) is None
    async with Fetcher(FetchLimits()) as fetcher:
        result = await fetcher.fetch(url, guarded=True)
    assert result.error_kind == "refused", result
    assert (result.error or "").startswith("refused to connect to ")
    assert "a loopback address" in (result.error or "") and feed_server.hits["/feed"] == 0


async def test_a_redirect_from_an_allowed_host_to_a_forbidden_one_is_refused_at_the_hop(
    feed_server: FeedServer, loopback_only: Fetcher
) -> None:
    feed_server.handlers["/meta"] = redirect(302, "http://169.254.169.254/latest/meta-data/")
    feed_server.handlers["/spelled"] = redirect(301, f"http://0x7f.0.0.2:{feed_server.port}/feed")
    feed_server.handlers["/private"] = redirect(307, "http://10.0.0.1/feed")
    feed_server.feeds["/feed"] = Feed(BODY)
    for path, reason in (
        ("/meta", "169.254.169.254: a cloud metadata address"),
        ("/spelled", "127.0.0.2 (written 0x7f.0.0.2): a loopback address"),
        ("/private", "10.0.0.1: a private address"),
    ):
        result = await loopback_only.fetch(feed_server.url(path), guarded=True)
        assert result.error_kind == "refused" and reason in (result.error or ""), result
        assert feed_server.hits[path] == 1  # the allowed first hop was made
    assert feed_server.hits["/feed"] == 0


async def test_the_operators_own_loopback_feeds_never_meet_the_guard(
    feed_server: FeedServer,
) -> None:
    feed_server.feeds["/feed"] = Feed(BODY)
    async with Fetcher(FetchLimits()) as fetcher:
        trusted = await fetcher.fetch(feed_server.url("/feed"))
        guarded = await fetcher.fetch(feed_server.url("/feed"), guarded=True)
    assert trusted.status == 200 and trusted.body == BODY
    assert guarded.error_kind == "refused" and "a loopback address" in (guarded.error or "")
    assert feed_server.hits["/feed"] == 1


async def test_an_allowed_address_is_reached_and_checked_at_the_socket(
    feed_server: FeedServer, loopback_only: Fetcher
) -> None:
    feed_server.feeds["/feed"] = Feed(BODY)
    feed_server.handlers["/hop"] = redirect(302, feed_server.url("/feed"))
    result = await loopback_only.fetch(feed_server.url("/hop"), guarded=True)
    assert result.status == 200 and result.body == BODY


@pytest.mark.parametrize("url", ["http://[bad/x", "http://news.example.test:99999/f"])
async def test_a_url_that_cannot_be_read_is_refused_everywhere_in_our_words(url: str) -> None:
    """A host or port urlsplit cannot read: refused for chat, an error result for a fetch
    (never a traceback), and a config error with its field."""
    assert AddressGuard().url_refusal(url) == "this is not a URL (its host or port cannot be read)"
    async with Fetcher(FetchLimits()) as fetcher:
        result = await fetcher.fetch(url)
    assert result.status is None and url in (result.error or "")  # in our words, no raise
    with pytest.raises(ValidationError, match="is not a URL"):
        FeedConfig(url=url)
