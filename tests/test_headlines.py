"""The labelled public headlines: what the set holds, its one fixed split, and the
held-out scores the shipped watchlists must keep (`wirewatch eval --split held-out`)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.core.errors import ConfigError
from bot.matching.evaluation import (
    HELD_OUT_SHARE,
    SPLIT_SEED,
    diagnose,
    evaluate,
    load_examples,
    split_lines,
)
from bot.matching.matcher import Matcher
from bot.matching.watchlists import BUNDLED_DIR, load_watchlists, watchlist_files

FOLDER = BUNDLED_DIR / "examples" / "headlines"
PARTS = {name: FOLDER / f"{name}.jsonl" for name in ("tuning", "held-out")}
WATCHLISTS = ("canada-china", "canada-japan", "canola", "taiwan-strait")
LANGUAGES = ("en", "fr", "zh", "ja", "ko", "es", "de", "it", "pt", "ru", "id", "vi", "tl")

# What `wirewatch eval --split held-out` must keep: the targets (F1 0.95, recall 0.93),
# and where a watchlist falls short of them, the level it reached (watchlists/README.md,
# Measured), so an edit that lowers it fails. A new batch adds held-out lines the
# watchlists have never met, which may lower the level (batches 8 to 12 did); the
# floor follows it down only in the commit that adds the batch's tuning.
TARGET = (0.95, 0.93)
MEASURED_BELOW_TARGET = {
    "canada-china": (0.87, 0.80),
    "canada-japan": (0.87, 0.80),
    "canola": (0.91, 0.87),
    "taiwan-strait": (0.93, 0.89),
}
# Where the tuning part falls short of the targets: the words that would lift it
# ("disinformation", "relationship", "cancels", "sospendere", 住友, "Kooperation",
# "genocide" alone, Yukon, "financing") matched ordinary headlines in an attacker's
# probes, so they were left out.
TUNING_BELOW_TARGET = {
    "canada-china": (0.94, 0.92),
    "canada-japan": (0.93, 0.90),
    "canola": (0.95, 0.92),
}


def lines(name: str) -> list[str]:
    return PARTS[name].read_text(encoding="utf-8").splitlines()


def rows() -> list[dict[str, Any]]:
    return [json.loads(line) for name in PARTS for line in lines(name)]


def test_the_set_holds_what_the_watchlists_are_measured_on() -> None:
    everything = rows()
    labels = Counter(label for r in everything for label in r["labels"])
    assert all(labels[w] >= 120 for w in WATCHLISTS), labels
    assert sum(1 for r in everything if not r["labels"]) >= 300
    langs = Counter(str(r["lang"]) for r in everything)
    assert sum(n for lang, n in langs.items() if lang != "en") >= 0.15 * len(everything)
    assert set(LANGUAGES) <= set(langs), langs
    for r in everything:
        assert set(r) <= {"title", "summary", "labels", "lang", "url", "source", "either", "batch"}
        assert str(r["url"]).startswith(("http://", "https://")) and r["title"] and r["source"]
        assert set(r["labels"]) <= set(WATCHLISTS)
        assert set(r.get("either", [])) <= {"canada-china"}
    titles = Counter(str(r["title"]) for r in everything)
    assert titles.most_common(1)[0][1] == 1


def test_the_committed_parts_are_the_split_of_the_set() -> None:
    """What `python bench/split_headlines.py --check` verifies: splitting both parts
    together again gives the same files, line for line."""
    tuning, held_out = split_lines(lines("tuning") + lines("held-out"), SPLIT_SEED, HELD_OUT_SHARE)
    assert tuning == lines("tuning")
    assert held_out == lines("held-out")


def test_the_split_is_stratified_and_ignores_the_order_of_lines() -> None:
    everything = lines("tuning") + lines("held-out")
    random.Random(3).shuffle(everything)
    tuning, held_out = split_lines(everything)
    assert (tuning, held_out) == (lines("tuning"), lines("held-out"))
    assert abs(len(held_out) / len(everything) - HELD_OUT_SHARE) < 0.005

    def strata(part: list[str]) -> Counter[tuple[int, tuple[str, ...], str]]:
        objs = [json.loads(line) for line in part]
        return Counter((o.get("batch", 1), tuple(sorted(o["labels"])), o["lang"]) for o in objs)

    held, tuned = strata(held_out), strata(tuning)
    for key in held | tuned:
        size = held[key] + tuned[key]
        assert abs(held[key] - size * HELD_OUT_SHARE) <= 1.5, key
    for batch in {key[0] for key in held | tuned}:
        size = sum(n for key, n in (held + tuned).items() if key[0] == batch)
        share = sum(n for key, n in held.items() if key[0] == batch) / size
        assert abs(share - HELD_OUT_SHARE) < 0.01, batch


def test_a_new_batch_moves_no_line_of_an_earlier_one() -> None:
    """Headlines gathered later are split by themselves: an earlier batch's held-out part
    stays exactly what it was, whatever the new batch holds."""
    first = lines("tuning") + lines("held-out")
    first = [line for line in first if json.loads(line).get("batch", 1) == 1]
    tuning, held_out = split_lines(first)
    later = [
        json.dumps(
            {
                "title": f"Canola tariff story {i}",
                "labels": labels,
                "lang": "en",
                "url": f"https://example.org/{i}",
                "batch": 9,
            }
        )
        for i, labels in enumerate([["canola"]] * 40 + [[]] * 20)
    ]
    tuning2, held_out2 = split_lines(later + first)
    assert tuning2[: len(tuning)] == tuning and held_out2[: len(held_out)] == held_out
    assert len(held_out2) - len(held_out) == 18  # 30% of the new batch, stratified


def test_a_different_seed_gives_a_different_split() -> None:
    everything = lines("tuning") + lines("held-out")
    assert split_lines(everything, "another seed")[1] != lines("held-out")


@pytest.mark.parametrize("part", ["tuning", "held-out"])
def test_the_shipped_watchlists_keep_their_scores(part: str) -> None:
    result = evaluate(
        Matcher(load_watchlists(watchlist_files(BUNDLED_DIR))), load_examples([PARTS[part]])
    )
    for score in result.scores:
        below = MEASURED_BELOW_TARGET if part == "held-out" else TUNING_BELOW_TARGET
        f1, recall = below.get(score.name, TARGET)
        assert score.f1 >= f1 and score.recall >= recall, (part, score)


def test_eval_of_a_split_reports_languages_and_what_each_miss_lacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CI's gate on the held-out part, as a user runs it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WIREWATCH_WATCHLISTS", str(BUNDLED_DIR))
    low_f1 = min(f1 for f1, _ in MEASURED_BELOW_TARGET.values())
    low_recall = min(recall for _, recall in MEASURED_BELOW_TARGET.values())
    args = ["eval", "--split", "held-out", "--min-f1", str(low_f1)]
    assert main([*args, "--min-recall", str(low_recall)]) == 0
    out = capsys.readouterr().out
    assert f"{len(lines('held-out'))} examples" in out and "counted either way" in out
    assert "  ja " in out and "  ko " in out and "by language" in out
    assert "false negative [" in out and ("needs " in out or "blocked by " in out)
    assert main([*args, "--min-recall", "0.99", "--quiet"]) == 1
    assert "recall below 0.99: " in capsys.readouterr().err
    tuning_f1 = min(f1 for f1, _ in TUNING_BELOW_TARGET.values())
    assert main(["eval", "--split", "tuning", "--min-f1", str(tuning_f1), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", "--split", "all", "--quiet"]) == 0
    assert f"{len(rows())} examples" in capsys.readouterr().out
    second = sum(1 for line in lines("held-out") if json.loads(line).get("batch") == 2)
    assert main(["eval", "--split", "held-out", "--batch", "2", "--quiet"]) == 0
    assert f"{second} examples" in capsys.readouterr().out
    assert main(["eval", "--split", "held-out", "--batch", "99"]) == 2
    assert "no examples of batch 99: they are in batches 1, 2, " in capsys.readouterr().err
    assert main(["eval", "--batch", "2"]) == 2  # the hand-written examples are all batch 1
    err = capsys.readouterr().err
    assert "they are all batch 1; the labelled headlines (--split) have more" in err
    assert main(["eval", "--split", "tuning", str(PARTS["tuning"])]) == 2


def test_a_miss_names_the_groups_it_lacked_or_that_blocked_it() -> None:
    watchlists = {w.id: w for w in load_watchlists(watchlist_files(BUNDLED_DIR))}
    matcher = Matcher(list(watchlists.values()))

    def why(watchlist: str, title: str) -> str:
        verdicts = {v.watchlist.id: v for v in matcher.judge(title)}
        return diagnose(watchlists[watchlist], verdicts.get(watchlist))

    assert why("canada-japan", "Japan and Canada hold talks") == "matched on canada, deal, japan"
    assert why("canada-japan", "Japan and Korea hold talks").startswith("needs canada; found ")
    assert why("canada-japan", "Nothing here") == "no alias of this watchlist appears"
    assert "blocked by sport" in why("canada-japan", "Japan and Canada talks before hockey final")
    # one `none` entry of two groups blocks as a pair; groups that only share the item
    # with a blocking `near` are not named, nor groups whose adding would not undo it
    stake = "Sumitomo Metal Mining agrees to take stake in Teck's Chilean copper mine"
    assert why("canada-japan", stake).startswith("blocked by abroad + stake; found ")
    farmers = why("canada-china", "Canadian farmers welcome Ottawa's trade deal with Beijing")
    assert farmers.startswith("blocked by farm + reacts; found ")
    # a third country beside Canada is undone only by a joint exercise
    lng = "Japan, Korea and Canada sign LNG supply deal"
    assert why("canada-japan", lng).startswith("needs exercise; blocked by third; found ")
    # lacking groups and blocked at once: both are said
    hockey = why("canada-china", "Japan and Canada talks before hockey final")
    assert hockey.startswith("needs china + pair or china + bilateral; blocked by sport;")


@pytest.mark.parametrize("batch", ["2", 0, 1.5, True, None])
def test_a_batch_that_is_not_a_whole_number_from_1_is_refused_with_its_line(
    tmp_path: Path, batch: object
) -> None:
    path = tmp_path / "x.jsonl"
    good = {"title": "t", "summary": "", "labels": [], "batch": 2}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "batch": batch}) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_examples([path])
    assert f"{path}:2: batch must be a whole number from 1" in str(caught.value)
