"""The alias kinds beyond a plain word: implied groups, not_in phrases and a final `*`, in
the matcher, the pre-filter and the watchlist file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import ConfigError
from bot.matching.matcher import Matcher
from bot.matching.normalize import fold, nfkc, variants, words
from bot.matching.watchlists import (
    BUNDLED_DIR,
    Alias,
    AllOf,
    Group,
    GroupRef,
    NoneOf,
    Rule,
    Watchlist,
    load_watchlist,
    load_watchlists,
    watchlist_files,
)


def watchlist(groups: dict[str, list[Alias | str]], rule: Rule) -> Watchlist:
    return Watchlist(
        id="t",
        title="Test",
        description="A test watchlist.",
        groups=tuple(
            Group(name, 1.0, tuple(a if isinstance(a, Alias) else Alias(a) for a in aliases))
            for name, aliases in groups.items()
        ),
        rule=rule,
        threshold=1.0,
        alert_threshold=1.0,
        title_weight=2.0,
        sources=(),
    )


def hits(w: Watchlist, title: str, summary: str = "") -> list[tuple[str, str]]:
    """(group, quoted text) of each piece of evidence, checking that the pre-filtered
    `match` agrees with the unfiltered `judge`."""
    matcher = Matcher([w])
    matched = matcher.match(title, summary)
    judged = [v for v in matcher.judge(title, summary) if v.matched]
    assert [m.watchlist for m in matched] == [v.watchlist.id for v in judged]
    return [(e.group, e.text) for m in matched for e in m.evidence]


CANADA_CHINA = AllOf((GroupRef("canada"), GroupRef("china")))


def test_an_alias_that_implies_groups_counts_for_each_of_them() -> None:
    w = watchlist(
        {
            "canada": ["Canada"],
            "china": ["China"],
            "inquiry": [Alias("Hogue commission", implies=("canada", "china"))],
        },
        AllOf((GroupRef("canada"), GroupRef("china"), GroupRef("inquiry"))),
    )
    assert sorted(hits(w, "Hogue commission hears from diaspora groups")) == [
        ("canada", "Hogue commission"),
        ("china", "Hogue commission"),
        ("inquiry", "Hogue commission"),
    ]
    assert hits(w, "Hogue hears from diaspora groups") == []


def test_a_fuzzy_alias_implies_its_groups_too() -> None:
    """A misspelt detainee's name without "China" still stands for China (the fuzzy pass
    runs for a watchlist with an exact hit that is short of matching)."""
    w = watchlist(
        {
            "canada": ["Canadian"],
            "china": ["China"],
            "held": [Alias("Kovrig", fuzzy=True, implies=("china",))],
        },
        AllOf((GroupRef("canada"), GroupRef("china"))),
    )
    assert sorted(hits(w, "Canadian Michael Kovrigg freed after 1,000 days")) == [
        ("canada", "Canadian"),
        ("china", "Kovrigg"),
        ("held", "Kovrigg"),
    ]


def test_not_in_cancels_an_alias_inside_its_phrases_only() -> None:
    w = watchlist(
        {
            "canada": ["Canadian"],
            "china": [Alias("China", not_in=("South China Sea", "South China Morning Post"))],
        },
        CANADA_CHINA,
    )
    assert hits(w, "Canadian frigate shadowed in the South China Sea") == []
    assert hits(w, "Canadian frigate in South China Seas, says South China Morning Post") == []
    assert hits(w, "Canadian frigate in the South China Sea; China protests") == [
        ("canada", "Canadian"),
        ("china", "China"),
    ]


def test_not_in_for_unspaced_scripts_and_brands() -> None:
    w = watchlist(
        {
            "canada": [Alias("Canada", not_in=("Canada Goose",)), "加拿大"],
            "china": [Alias("中国", not_in=("南中国海",)), "China"],
        },
        CANADA_CHINA,
    )
    assert hits(w, "加拿大军舰在南中国海") == []
    assert hits(w, "加拿大与中国") == [("canada", "加拿大"), ("china", "中国")]
    assert hits(w, "Canada Goose sales in China jump") == []
    assert hits(w, "Canada Goose maker warns Canada over China duties") == [
        ("canada", "Canada"),
        ("china", "China"),
    ]


def test_an_alias_ending_in_a_star_matches_any_ending() -> None:
    w = watchlist({"canada": [Alias("Kanad*")], "china": ["China"]}, CANADA_CHINA)
    for text in ("Kanada und China", "Kanadas Premier in China", "kanadische Raps, China"):
        assert hits(w, text), text
    assert hits(w, "Kana und China") == []


def test_none_of_an_implied_group_blocks_the_match() -> None:
    w = watchlist(
        {
            "canada": ["Canada"],
            "brand": [Alias("Canada Goose", implies=("company",))],
            "company": ["earnings"],
        },
        AllOf((GroupRef("canada"), NoneOf((GroupRef("company"),)))),
    )
    assert hits(w, "Canada Goose expands in Asia") == []
    assert hits(w, "Canada expands in Asia") == [("canada", "Canada")]


WATCHLIST = """\
id: t
title: T
description: A test. Nothing else.
groups:
  canada:
    aliases: [Canada, {{text: Hogue commission, implies: [{implied}]}}]
  china:
    aliases: [{china}]
rule:
  all: [canada, china]
"""


def load(tmp_path: Path, implied: str = "china", china: str = "China") -> Watchlist:
    path = tmp_path / "t.yaml"
    path.write_text(WATCHLIST.format(implied=implied, china=china), encoding="utf-8")
    return load_watchlist(path)


def test_the_file_format_reads_implies_not_in_and_stars(tmp_path: Path) -> None:
    w = load(tmp_path, china="{text: China, not_in: [South China Sea]}, Kin*")
    canada, china = w.groups
    assert canada.aliases[1].implies == ("china",)
    assert china.aliases[0].not_in == ("South China Sea",)
    assert china.aliases[1].prefix


@pytest.mark.parametrize(
    ("implied", "china", "problem"),
    [
        ("chnia", "China", "unknown group 'chnia'"),
        ("china", "{text: China, not_in: [Taiwan Strait]}", "does not contain 'China'"),
        ("china", "Ch*na", "a * may only end a single word"),
        ("china", "People's Rep*", "a * may only end a single word"),
        ("china", "Ch*", "a * may only end a single word"),
        ("china", "{text: Chin*, fuzzy: true}", "a * may only end a single word"),
        ("china", "{text: Chin*, lang: not a language}", "lang"),
    ],
)
def test_a_broken_alias_option_is_named_with_its_line(
    tmp_path: Path, implied: str, china: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, implied, china)
    (found,) = [p for p in caught.value.problems if problem in p]
    line = 6 if implied != "china" else 8  # the line of the alias at fault
    assert found.startswith(f"{tmp_path / 't.yaml'}:{line}: groups.")


def test_not_in_accepts_a_phrase_holding_an_inflected_form(tmp_path: Path) -> None:
    w = load(tmp_path, china="{text: китайский, not_in: [Южно-Китайское море]}")
    assert w.groups[1].aliases[0].not_in == ("Южно-Китайское море",)


def _spellings(alias: Alias) -> list[str]:
    folded = fold(nfkc(alias.text.removesuffix("*")))
    if alias.prefix:
        return [folded + "s", folded + "en"]
    return [" ".join(v) for v in variants(words(folded), folded, alias.lang)] or [folded]


SHIPPED = load_watchlists(watchlist_files(BUNDLED_DIR))
SPELLINGS = sorted(
    {s for w in SHIPPED for g in w.groups for a in g.aliases for s in _spellings(a)}
    | {p for w in SHIPPED for g in w.groups for a in g.aliases for p in a.not_in}
)
MATCHER = Matcher(SHIPPED)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(SPELLINGS), min_size=1, max_size=8),
    st.lists(st.sampled_from([" ", ", ", "-", "'s ", "、", "", " — ", "와 "]), min_size=8),
    st.randoms(use_true_random=False),
)
def test_the_prefilter_never_loses_a_match_with_inflections_implies_and_not_in(
    parts: list[str], separators: list[str], rng: random.Random
) -> None:
    """Texts made of every spelling the shipped watchlists can hit (inflected forms,
    prefixes, implied aliases, not_in phrases) in every script: `match` (pre-filtered)
    and `judge` (not) agree."""
    text = "".join(p + separators[i] for i, p in enumerate(parts))
    cut = rng.randrange(len(text) + 1)
    title, summary = text[:cut], text[cut:]
    judged = sorted(v.watchlist.id for v in MATCHER.judge(title, summary) if v.matched)
    assert sorted(m.watchlist for m in MATCHER.match(title, summary)) == judged, text
