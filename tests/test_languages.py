"""Each language's rules: the inflections an alias's `lang` generates, and how scripts
without spaces (Chinese, Japanese, Korean, Thai) and with combining marks (Devanagari)
are cut into words and matched."""

from __future__ import annotations

import pytest

from bot.matching.matcher import Matcher
from bot.matching.normalize import fold, inflections, nfkc, variants, words
from bot.matching.watchlists import Alias, Group, GroupRef, Watchlist


def hit(alias: Alias, text: str) -> list[str]:
    """What the alias hits in the text, as quoted in evidence (`match` and `judge` agree)."""
    w = Watchlist("t", "T", "d", (Group("g", 1.0, (alias,)),), GroupRef("g"), 1.0, 1.0, 2.0, ())
    matcher = Matcher([w])
    found = [e.text for m in matcher.match(text) for e in m.evidence]
    assert bool(found) == any(v.matched for v in matcher.judge(text))
    return found


def forms(word: str, lang: str | None = None) -> set[str]:
    return inflections(fold(nfkc(word)), lang)


@pytest.mark.parametrize(
    ("lang", "word", "wanted"),
    [
        # Russian: nouns in -а, -й, a consonant, -ия, -ец; adjectives in -ий
        ("ru", "Канада", {"канады", "канаде", "канаду", "канадой"}),
        ("ru", "Китай", {"китая", "китаю", "китаем", "китае"}),
        ("ru", "Пекин", {"пекина", "пекину", "пекином", "пекине"}),
        ("ru", "Япония", {"японии", "японию", "японией"}),
        ("ru", "эсминец", {"эсминца", "эсминцы", "эсминцев"}),
        ("ru", "канадский", {"канадского", "канадскому", "канадскую", "канадские"}),
        ("ru", "пошлина", {"пошлины", "пошлину", "пошлин"}),
        # Ukrainian shares the table: Канади, Канаді, Китаї
        ("uk", "Канада", {"канади", "канаді"}),
        ("uk", "Китай", {"китаї", "китаю"}),
        # German: case endings; umlaut plurals through accent folding
        ("de", "Zoll", {"zolle", "zolls", "zollen"}),
        ("de", "kanadisch", {"kanadische", "kanadischen", "kanadischer"}),
        # Spanish, Portuguese, Italian: gender and number
        ("es", "chino", {"china", "chinos", "chinas"}),
        ("es", "canadiense", {"canadienses"}),
        ("pt", "chinês", {"chinesa", "chineses"}),
        ("pt", "negociação", {"negociacoes"}),
        ("it", "cinese", {"cinesi"}),
        ("it", "tedesco", {"tedeschi"}),
        # French: gender and plural, no English -ing
        ("fr", "canadien", {"canadienne", "canadiennes", "canadiens"}),
        ("fr", "accord", {"accords"}),
        # Indonesian and Malay: -nya
        ("id", "Kanada", {"kanadanya"}),
        ("ms", "Kanada", {"kanadanya"}),
        # Arabic: "and", "in", "for" written joined in front; after ل the article ال
        # drops its alif, and keeps one ل where the word begins with one
        ("ar", "كندا", {"وكندا", "بكندا", "لكندا", "وبكندا"}),
        ("ar", "الصين", {"والصين", "بالصين", "للصين", "وللصين"}),
        ("ar", "اللجنة", {"للجنة", "واللجنة"}),
        # English, the default
        (None, "tariff", {"tariffs"}),
        ("en", "duty", {"duties"}),
    ],
)
def test_each_language_generates_its_inflections(
    lang: str | None, word: str, wanted: set[str]
) -> None:
    assert wanted <= forms(word, lang)


@pytest.mark.parametrize(
    ("lang", "word", "unwanted"),
    [
        ("fr", "accord", "according"),  # French rules add no English -ing
        ("vi", "Nhật", "nhats"),  # Vietnamese and Tagalog: listed as written
        ("tl", "Hapon", "hapons"),
        ("ru", "Китай", "китайs"),
        ("ar", "الصين", "لالصين"),  # not a word: after ل the article drops its alif
        ("ar", "اللجنة", "لللجنة"),
    ],
)
def test_a_language_generates_no_other_language_forms(lang: str, word: str, unwanted: str) -> None:
    assert unwanted not in forms(word, lang)


def test_cyrillic_without_a_language_gets_the_russian_rules() -> None:
    assert {"канады", "канаде"} <= forms("Канада")


def test_russian_several_word_aliases_inflect_every_word() -> None:
    spelled = variants(["тайваньский", "пролив"], "тайваньский пролив", "ru")
    assert ("тайваньском", "проливе") in spelled and ("тайваньского", "пролива") in spelled
    alias = Alias("Тайваньский пролив", lang="ru")
    assert hit(alias, "Эсминец США прошел через Тайваньский пролив") == ["Тайваньский пролив"]
    assert hit(alias, "Эсминец в Тайваньском проливе") == ["Тайваньском проливе"]


def test_a_long_alias_keeps_its_written_form_past_the_variant_limit() -> None:
    """Three Russian words of a dozen or more endings each pass the limit on generated
    spellings; the spelling the writer gave is kept whatever the limit cuts."""
    tokens = words(fold("персоной нон грата"))
    assert ("персоной", "нон", "грата") in variants(tokens, " ".join(tokens), "ru")
    alias = Alias("персоной нон грата", lang="ru")
    assert hit(alias, "Канада объявила дипломата персоной нон грата") == ["персоной нон грата"]


def test_arabic_aliases_meet_their_joined_conjunctions() -> None:
    alias = Alias("الصين", lang="ar")
    assert hit(alias, "كندا والصين تتفقان على خفض الرسوم") == ["والصين"]
    assert hit(alias, "رسوم كندية جديدة للصين") == ["للصين"]
    assert hit(Alias("كندا", lang="ar"), "سفير وبكندا") == ["وبكندا"]


def test_only_the_first_word_of_an_arabic_alias_takes_the_joined_words() -> None:
    tokens = words(fold("مضيق تايوان"))
    spelled = variants(tokens, " ".join(tokens), "ar")
    assert ("بمضيق", "تايوان") in spelled and ("مضيق", "وتايوان") not in spelled


def test_a_fuzzy_arabic_alias_passes_the_gate_with_a_joined_word() -> None:
    """The pre-filter's key part of a fuzzy alias is what every form keeps: for Arabic,
    whose forms differ in front, the end of the word, not its first letters."""
    assert hit(Alias("الصين", lang="ar", fuzzy=True), "قالت للصين اليوم") == ["للصين"]


def test_russian_yo_is_read_as_ye() -> None:
    assert fold("Ёлка ещё") == "елка еще"
    assert hit(Alias("ещё"), "Канада еще раз") == ["еще"]


def test_greek_capitals_meet_accented_aliases() -> None:
    """Greek headlines in capitals drop their accents, and match the accented aliases."""
    assert hit(Alias("Κίνας", lang="el"), "ΑΝΤΙΠΟΙΝΑ ΤΗΣ ΚΙΝΑΣ ΣΤΟΝ ΚΑΝΑΔΑ") == ["ΚΙΝΑΣ"]
    assert hit(Alias("κινεζ*", lang="el"), "Κινέζοι διπλωμάτες") == ["Κινέζοι"]
    assert fold("Ταϊβάν") == fold("ΤΑΪΒΑΝ") == "ταιβαν"


def test_french_and_italian_elisions_are_removed() -> None:
    assert words(fold("l'Inde d'Ottawa all'olio dell'export sull'UE un'intesa")) == [
        "inde", "ottawa", "olio", "export", "ue", "intesa"
    ]  # fmt: skip
    found = hit(Alias("olio da cucina", lang="it"), "Auto cinesi grazie all’olio da cucina")
    assert found == ["all’olio da cucina"]  # quoted as written
    assert words(fold("o'neill y'all rock'n'roll")) == ["oneill", "yall", "rocknroll"]


def test_vietnamese_keeps_its_tone_marks() -> None:
    """Folding them would make Nhật (Japan) the same word as nhất (most)."""
    assert hit(Alias("Nhật", lang="vi"), "Thủ tướng Nhật đi chào") == ["Nhật"]
    assert hit(Alias("Nhật", lang="vi"), "lớn nhất thế giới") == []
    assert hit(Alias("Trung Quốc", lang="vi"), "tàu chiến Trung Quốc chặn tàu Mỹ") == ["Trung Quốc"]


def test_german_compounds_through_a_star_and_a_substring() -> None:
    assert hit(Alias("Raps*", lang="de"), "Chinas Rapszölle im Fokus") == ["Rapszölle"]
    assert hit(Alias("zoll", whole_word=False, lang="de"), "Chinas Rapszölle") == ["zöll"]


def test_chinese_and_japanese_match_inside_runs_of_characters() -> None:
    assert hit(Alias("中加关系"), "推动中加关系走实走好") == ["中加关系"]
    assert hit(Alias("台湾海峡", lang="ja"), "海自艦が台湾海峡を航行") == ["台湾海峡"]
    assert words(fold("カナダ産LNG、日本へ")) == ["カナダ産", "lng", "日本へ"]


def test_korean_matches_at_the_start_of_a_word_with_particles_after_it() -> None:
    alias = Alias("캐나다", lang="ko")
    assert hit(alias, "캐나다와 중국") == ["캐나다"]
    assert hit(alias, "캐나다산 유채씨") == ["캐나다"]
    assert hit(alias, "한·캐나다 정상회담") == ["캐나다"]
    assert hit(Alias("중국", lang="ko"), "남중국해에서 훈련") == []  # the South China Sea


def test_korean_hanja_abbreviations_match_standing_alone() -> None:
    alias = Alias("中", lang="ko")
    assert hit(alias, "中, 加 카놀라씨앗 관세 84%→15%로") == ["中"]
    assert hit(alias, "中EV에 대한 100% 관세") == ["中"]
    assert hit(alias, "中国商务部") == []
    assert hit(Alias("日", lang="ko"), "日다카이치, 대만 유사시") == ["日"]
    assert hit(Alias("日", lang="ko"), "1月16日、北京で会談") == []


def test_thai_matches_inside_words_like_chinese() -> None:
    assert hit(Alias("จีน"), "ประเทศจีนประกาศซ้อมรบ") == ["จีน"]


def test_devanagari_words_keep_their_vowel_signs() -> None:
    assert words(fold("कनाडा चीन गुरुवार")) == ["कनाडा", "चीन", "गुरुवार"]
    assert hit(Alias("चीन"), "दक्षिण चीन सागर में टक्कर") == ["चीन"]
    assert hit(Alias("चीन"), "चीनी सामान") == []
