"""NearWords against comparing every word: the same answers, also for long words and
after removals."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from bot.matching.near_words import NearWords

SIMILARITY = 90.0
PREFIX = 4


def scan(stored: dict[str, int], word: str) -> set[str]:
    """`near(word)` by comparing `word` with every stored word."""
    return {
        other
        for other in stored
        if other != word
        and other[:PREFIX] == word[:PREFIX]
        and fuzz.ratio(word, other) >= SIMILARITY
    }


def edited(word: str, edits: list[tuple[int, str, str]]) -> str:
    """`word` with letters inserted, deleted or changed (positions wrap around)."""
    for at, letter, edit in edits:
        at %= len(word) + 1
        if edit == "insert":
            word = word[:at] + letter + word[at:]
        elif edit == "delete":
            word = word[:at] + word[at + 1 :]
        else:
            word = word[:at] + letter + word[at + 1 :]
    return word


# Words a few edits from a few bases, all with the same first letters or nearly, of every
# length up to well past the longest filed by deletion variants: many are near each other.
bases = st.lists(
    st.text("abn", max_size=30).map(lambda tail: "tari" + tail), min_size=1, max_size=3
)
edits = st.lists(
    st.tuples(
        st.integers(0, 40), st.sampled_from("abnt"), st.sampled_from(["insert", "delete", "change"])
    ),
    max_size=3,
)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_near_is_what_comparing_every_word_finds(data: st.DataObject) -> None:
    words = st.builds(edited, st.sampled_from(data.draw(bases)), edits)
    operations = data.draw(st.lists(st.tuples(st.booleans(), words), max_size=60))
    index = NearWords(SIMILARITY, PREFIX)
    stored: dict[str, int] = {}
    for add, word in operations:
        if add or word not in stored:
            index.add(word)
            stored[word] = stored.get(word, 0) + 1
        else:
            index.remove(word)
            stored[word] -= 1
            if not stored[word]:
                del stored[word]
        assert set(index.near(word)) == scan(stored, word)
    assert len(index) == len(stored)
    for word in [*data.draw(st.lists(words, max_size=10)), *stored]:
        assert set(index.near(word)) == scan(stored, word), word


def test_a_word_one_letter_off_is_near_and_a_swapped_one_is_not() -> None:
    index = NearWords(SIMILARITY, PREFIX)
    for word in ("zelensky", "zelenskiy", "internationalization", "internationalizations"):
        index.add(word)
    assert set(index.near("zelensky")) == {"zelenskiy"}
    assert set(index.near("zelenskyi")) == {"zelensky"}  # "zelenskiy": two letters off
    assert set(index.near("internationalisation")) == {
        "internationalization",
        "internationalizations",
    }
    assert set(index.near("austral")) == set() == set(index.near("austria"))
    index.remove("zelenskiy")
    assert set(index.near("zelensky")) == set()
