"""The rule engine's two readings agree: what `may_hold` promises from the groups alone,
`holds` keeps once the hits' positions are known (the matcher skips positions when it can)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from bot.matching.rules import holds, may_hold
from bot.matching.watchlists import AllOf, AnyOf, GroupRef, Near, NoneOf, Rule

GROUPS = ("a", "b", "c", "d")


@dataclass(frozen=True)
class Hit:
    group: str
    field: int
    start: int
    end: int


def rules() -> st.SearchStrategy[Rule]:
    leaves = st.one_of(
        st.builds(GroupRef, st.sampled_from(GROUPS)),
        st.builds(Near, st.sampled_from(GROUPS), st.sampled_from(GROUPS), st.integers(0, 4)),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.builds(AllOf, st.tuples(children, children)),
            st.builds(AnyOf, st.tuples(children, children, children)),
            st.builds(NoneOf, st.tuples(children)),
        ),
        max_leaves=10,
    )


hits = st.lists(
    st.builds(
        lambda group, field, start, size: Hit(group, field, start, start + size),
        st.sampled_from(GROUPS),
        st.integers(0, 1),
        st.integers(0, 12),
        st.integers(1, 3),
    ),
    max_size=8,
)


@given(rules(), hits)
def test_holds_lies_between_what_may_hold_promises_and_allows(rule: Rule, found: list[Hit]) -> None:
    """`may_hold` with `near` taken as far (not optimistic) is a lower bound of `holds`, and
    with `near` taken as close an upper bound, whatever the positions."""
    by_group: dict[str, list[Hit]] = {}
    for hit in found:
        by_group.setdefault(hit.group, []).append(hit)
    groups = frozenset(by_group)
    result = holds(rule, by_group)
    if may_hold(rule, groups, optimistic=False):
        assert result, rule
    if result:
        assert may_hold(rule, groups), rule
