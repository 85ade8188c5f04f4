"""Hostile YAML for the config and watchlist loaders: alias bombs, deep nesting, and
hypothesis strategies for documents of the right and wrong shapes, raw text full of YAML
syntax, and raw bytes."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bot.core.yaml_source import ALIAS_BUDGET

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,  # nothing written into the worktree
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # the autouse hermetic environment
    ],
)


def alias_bomb(levels: int, key: str, fan_out: int = 10) -> str:
    """A "billion laughs" document: `key` holds fan_out**levels strings, written in a
    few hundred bytes with anchors that each repeat the one before `fan_out` times."""
    lines = ["x-laughs:", '  - &l0 ["lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"  - &l{level} [{', '.join([f'*l{level - 1}'] * fan_out)}]")
    return "\n".join(lines) + f"\n{key}: *l{levels}\n"


def nested_lists(depth: int, key: str) -> str:
    """`key: [[[…]]]`, `depth` lists deep."""
    return f"{key}: {'[' * depth}{']' * depth}\n"


def values_bound(text: str) -> int:
    """The most values a document of `text` may build: each value takes at least one
    character (an empty scalar one of its key's), plus what aliases may repeat."""
    return 2 * len(text) + ALIAS_BUDGET + 2


CONFIG_KEYS = (
    "data_dir database_url watchlists_dir default_feeds feeds poll subscriptions delivery "
    "web url name interval tick concurrency per_host connect_timeout read_timeout "
    "total_timeout max_bytes max_redirects max_item_age max_backoff dead_after user_agent "
    "parse_worker channel watchlists alerts digest timezone min_score quiet_hours "
    "nothing_new mention_role retry_for pacing digest_size host port console discord slack "
    "headers stale_after include exclude china news-search Accept Host"
).split()
WATCHLIST_KEYS = (
    "id title description threshold alert_threshold title_weight groups rule sources "
    "weight fuzzy fuzzy_threshold aliases text whole_word case_sensitive lang all any none "
    "near within url name interval"
).split()
TEXTS = [
    *(
        "5m 0s -5 1h30m 99999999999999d 99999999999w 10MiB 0 -1 500kB 1e400GB console "
        "discord:123456789012345678 slack:C0123456789 https://x.test/feed ftp://x "
        "America/Toronto Mars/Base 22:00-07:00 canola a-b UTC"
    ).split(),
    *("0 8 * * mon-fri", "0 8 31 2 *", "a\x00b", "a\nb", "\x1b[2J", "", " "),
]
# characters and tokens that steer the YAML scanner into its corners
SYNTAX = st.sampled_from(
    [*"[]{}:,-?&*!|>'\"#%@`\n\t\r \x00\x85\ufeff\u2028", "&a ", "*a", "*b", "&b ", "<<: ",
     "!!binary ", "!!timestamp ", "!!int ", "!!float ", "!!set ", "!!omap ", "!foo ",
     "%YAML 1.1\n", "---\n", "...\n", ".inf", ".nan", "0x" + "f" * 60, "9" * 5000, "? "]
)  # fmt: skip


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**200), max_value=2**200),
        st.floats(),  # .inf, -.inf and .nan included
        st.sampled_from(TEXTS),
        st.text(max_size=20),
    )


def documents(keys: list[str]) -> st.SearchStrategy[Any]:
    """Nested mappings, lists and scalars, keyed mostly by the loader's own field names
    so that validation goes deep, of the right and the wrong types."""
    key = st.one_of(st.sampled_from(keys), st.text(max_size=8), st.integers(), st.none())
    tree = st.recursive(
        _scalars(),
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(key, children, max_size=5)
        ),
        max_leaves=25,
    )
    return st.one_of(st.dictionaries(st.sampled_from(keys), tree, max_size=8), tree)


def _dumped(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, default_flow_style=None)


@st.composite
def hostile_texts(draw: st.DrawFn, keys: list[str]) -> str:
    """A YAML-ish document: a dumped tree with YAML syntax spliced in, raw syntax soup,
    or an alias bomb of random shape under a random key."""
    kind = draw(st.sampled_from(["tree", "spliced", "soup", "bomb"]))
    if kind == "bomb":
        levels, fan_out = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        return alias_bomb(levels, draw(st.sampled_from(keys)), fan_out)
    if kind == "soup":
        return "".join(draw(st.lists(st.one_of(SYNTAX, st.text(max_size=5)), max_size=60)))
    text = _dumped(draw(documents(keys)))
    if kind == "spliced":
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(SYNTAX) + text[at:]
    return text
