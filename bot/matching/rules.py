"""`holds` and `may_hold` say whether a watchlist's rule holds, or may hold, for the groups hit.

A rule is a tree of `all`, `any`, `none`, `near` and group references
(`bot.matching.watchlists`). `may_hold` needs only the names of the groups hit, so the
pre-filter and the matcher can rule watchlists out before finding positions; `holds`
also reads the hits' positions, which `near` needs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Protocol

from bot.matching.watchlists import AllOf, AnyOf, GroupRef, Near, NoneOf, Rule


class _Placed(Protocol):
    """A hit as `near` reads it: the field it is in and the word positions it covers."""

    @property
    def field(self) -> int: ...

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


def may_hold(
    rule: Rule, groups: AbstractSet[str], optimistic: bool = True, exact: bool = True
) -> bool:
    """Whether the rule can hold (`optimistic`: `near` assumed close) or surely holds (not:
    `near` assumed far) with hits in these groups; `none` swaps the two.

    With `exact` off, `groups` is only a superset of the groups hit (the pre-filter's
    view), so no group is surely present and `none` never rules a watchlist out.
    """
    match rule:
        case AllOf(children):
            return all(may_hold(c, groups, optimistic, exact) for c in children)
        case AnyOf(children):
            return any(may_hold(c, groups, optimistic, exact) for c in children)
        case NoneOf(children):
            return not any(may_hold(c, groups, not optimistic, exact) for c in children)
        case Near(a, b, _):
            return optimistic and a in groups and b in groups
        case GroupRef(group):
            return group in groups and (optimistic or exact)
    raise TypeError(f"unknown rule {rule!r}")


def has_near(rule: Rule) -> bool:
    """Whether a `near` appears anywhere in the rule."""
    if isinstance(rule, Near):
        return True
    return isinstance(rule, AllOf | AnyOf | NoneOf) and any(has_near(c) for c in rule.children)


def holds(rule: Rule, hits: Mapping[str, Sequence[_Placed]]) -> bool:
    """Whether `rule` holds for these hits by group, positions included."""
    match rule:
        case AllOf(children):
            return all(holds(c, hits) for c in children)
        case AnyOf(children):
            return any(holds(c, hits) for c in children)
        case NoneOf(children):
            return not any(holds(c, hits) for c in children)
        case Near(a, b, within):
            return any(
                x.field == y.field and max(0, y.start - x.end, x.start - y.end) <= within
                for x in hits.get(a, ())
                for y in hits.get(b, ())
            )
        case GroupRef(group):
            return group in hits
    raise TypeError(f"unknown rule {rule!r}")


def what_it_lacks(rule: Rule, hit: set[str], names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Why `rule` fails with the groups in `hit`: the fewest other groups of `names` that
    would make it hold (each way as `a + b`, smallest ways first), and the groups hit
    that block it (a `none`); where it both lacks groups and is blocked, the first
    blocking group with what it would lack without it ("needs china; blocked by sport")."""
    wanted = _wanted(rule, hit, names)
    blocking = _blocking(rule, hit)
    if not wanted and not blocking and not may_hold(rule, hit):
        for group in sorted(hit):
            if wanted := _wanted(rule, hit - {group}, [n for n in names if n != group]):
                return wanted, [group]
    return wanted, blocking


def _wanted(rule: Rule, hit: set[str], names: Sequence[str]) -> list[str]:
    """The fewest other groups of `names` that would make `rule` hold with `hit`: that
    might, or, where the groups hit already might (so a `near` decided), that surely would."""
    optimistic = not may_hold(rule, hit)
    wanted: list[str] = []
    for size in (1, 2, 3):
        for extra in itertools.combinations([n for n in names if n not in hit], size):
            if may_hold(rule, hit | set(extra), optimistic) and not any(
                set(w.split(" + ")) <= set(extra) for w in wanted
            ):
                wanted.append(" + ".join(extra))
        if wanted:
            break
    return wanted


def _blocking(rule: Rule, hit: set[str]) -> list[str]:
    """The groups hit whose absence would surely let `rule` hold, those that block together
    through one `none` entry joined as that entry names them (`abroad + stake`).

    Surely: a `near` that blocks now is taken to block still, so a group that only shares
    the item with it is not named.
    """
    alone = {n for n in hit if may_hold(rule, hit - {n}, optimistic=False)}
    joint = {
        tuple(sorted(together))
        for entry in _none_entries(rule)
        if len(together := _names(entry) & alone) > 1
    }
    single = alone.difference(*joint)
    return sorted([" + ".join(names) for names in joint] + list(single))


def _none_entries(rule: Rule) -> list[Rule]:
    """Every entry of every `none` in the rule."""
    match rule:
        case NoneOf(children):
            return [*children, *(e for c in children for e in _none_entries(c))]
        case AllOf(children) | AnyOf(children):
            return [e for c in children for e in _none_entries(c)]
    return []


def _names(rule: Rule) -> set[str]:
    """The group names a rule mentions."""
    match rule:
        case GroupRef(group):
            return {group}
        case Near(a, b, _):
            return {a, b}
        case AllOf(children) | AnyOf(children) | NoneOf(children):
            return {n for c in children for n in _names(c)}
    return set()
