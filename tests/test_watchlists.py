"""Watchlist files: a broken one names file, line and field; eval and backtest from the CLI;
hostile files refused the same way."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import tracemalloc
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hostile_yaml import FUZZ, WATCHLIST_KEYS, alias_bomb, hostile_texts, values_bound
from hypothesis import given
from hypothesis import strategies as st

from bot.cli.main import main
from bot.core import yaml_source
from bot.core.config import load_settings
from bot.core.errors import ConfigError
from bot.core.models import FeedSpec, FetchResult, Item, Outcome, PollResult, Schedule
from bot.core.yaml_source import load_yaml
from bot.matching.watchlists import (
    BUNDLED_DIR,
    Watchlist,
    load_watchlist,
    load_watchlists,
    watchlist_files,
)
from bot.service.app import open_app

GOOD = """\
id: test-list
title: Test
description: Canola duties. Nothing else.
threshold: 2
groups:
  crop:
    aliases: [canola, {text: PLA, case_sensitive: true}]
  trade:
    aliases: [tariff]
rule:
  all: [crop, trade]
"""


def write(tmp_path: Path, text: str, name: str = "w.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_watchlists_load_with_scopes() -> None:
    watchlists = load_watchlists(watchlist_files(BUNDLED_DIR))
    assert {w.id for w in watchlists} == {"canada-china", "canola", "taiwan-strait", "canada-japan"}
    for w in watchlists:
        assert (
            len(w.description) > 80 and "Not " in w.description and w.alert_threshold >= w.threshold
        )


def test_every_problem_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace("threshold: 2", "threshold: -1\nalert_threshold: x")
        .replace("[canola,", "[canola, {text: ''},")
        .replace("all: [crop, trade]", "all: [crop, trades]\n  any: []\n  colour: red"),
    )
    with pytest.raises(ConfigError) as caught:
        load_watchlist(path)
    text = "\n".join(caught.value.problems)
    assert f"{path}:4: threshold:" in text
    assert f"{path}:5: alert_threshold:" in text
    assert f"{path}:8: groups.crop.aliases.1.text: String should have at least 1 character" in text
    assert "valid string" not in text and "AliasModel" not in text  # union noise dropped
    assert f"{path}:14: rule.colour: unknown key" in text


def test_semantic_problems_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("all: [crop, trade]", "all: [crop, trades]\n  any: []"))
    with pytest.raises(ConfigError) as caught:
        load_watchlist(path)
    problems = caught.value.problems
    assert f"{path}:11: rule.all.1: unknown group 'trades' (groups: crop, trade)" in problems
    assert f"{path}:12: rule.any: empty list" in problems


def test_duplicate_ids_and_yaml_errors_across_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    write(tmp_path, "id: [unclosed\n", "c.yaml")
    with pytest.raises(ConfigError) as caught:
        load_watchlists(watchlist_files(tmp_path))
    text = "\n".join(caught.value.problems)
    assert "b.yaml:1: id: 'test-list' is also the id of" in text
    assert "c.yaml:" in text and "invalid YAML" in text


def test_broken_watchlist_stops_startup_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    write(folder, GOOD.replace("all: [crop, trade]", "all: [crops]"))
    (tmp_path / "wirewatch.yaml").write_text(f"watchlists_dir: {folder}\ndefault_feeds: false\n")
    assert main(["check", "--config", str(tmp_path / "wirewatch.yaml")]) == 2
    assert "unknown group 'crops'" in capsys.readouterr().err


def test_eval_exits_non_zero_below_min_f1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    write(folder, GOOD)
    (tmp_path / "wirewatch.yaml").write_text(f"watchlists_dir: {folder}\ndefault_feeds: false\n")
    examples = tmp_path / "ex.jsonl"
    rows = [
        {"title": "Canola tariff doubled", "summary": "", "labels": ["test-list"]},
        {"title": "Canola harvest", "summary": "", "labels": ["test-list"]},
        {"title": "Steel tariff", "summary": "", "labels": []},
    ]
    examples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = ["--config", str(tmp_path / "wirewatch.yaml")]
    assert main(["eval", str(examples), *config]) == 0
    out = capsys.readouterr().out
    assert "0.667" in out and "false negative [test-list]" in out and "Canola harvest" in out
    assert main(["eval", str(examples), "--min-f1", "0.9", *config]) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": 1}\n')
    assert main(["eval", str(bad), *config]) == 2


async def test_backtest_runs_a_watchlist_file_over_stored_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    folder = tmp_path / "lists"
    folder.mkdir()
    write(folder, GOOD)
    config = tmp_path / "wirewatch.yaml"
    config.write_text(f"watchlists_dir: {folder}\ndefault_feeds: false\n")
    settings = load_settings(config)
    async with open_app(settings, load_watchlists(watchlist_files(folder))) as app:
        await app.store.add_feeds([FeedSpec("https://a.example.test/rss", "A", "opml")], now)
        (feed,) = await app.store.list_feeds()
        stored = (Item("1", "Canola tariff doubled", "", None, None, "A"),
                  Item("2", "Canola harvest record", "", None, None, "A"))  # fmt: skip
        matches = tuple(tuple(app.commands.matcher.match_item(i)) for i in stored)
        poll = PollResult(feed, Outcome.OK, FetchResult(status=200), now, stored, "h",
                          matches=matches)  # fmt: skip
        await app.store.record_polls([(poll, Schedule(now, None, 0))], settings.poll.max_item_age)
    edited = write(
        tmp_path, GOOD.replace("all: [crop, trade]", "any: [crop, trade]"), "edited.yaml"
    )
    code = await asyncio.to_thread(main, ["backtest", str(edited), "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Canola harvest record" in out and "Canola tariff doubled" in out
    assert "2 of 2 items" in out and "1 new, 0 no longer matched" in out
    assert main(["backtest", "nope", "--config", str(config)]) == 2


async def test_a_stored_title_with_a_screen_clear_escape_prints_inert_in_backtest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows stored before the parser removed controls still print inert."""
    now = datetime.now(UTC)
    folder = tmp_path / "lists"
    folder.mkdir()
    write(folder, GOOD)
    config = tmp_path / "wirewatch.yaml"
    config.write_text(f"watchlists_dir: {folder}\ndefault_feeds: false\n")
    settings = load_settings(config)
    evil = "\x1b[2J\x1b]0;pwned\x07Canola tariff\x9b31m doubled\u202e\r\nfake line"
    async with open_app(settings, load_watchlists(watchlist_files(folder))) as app:
        await app.store.add_feeds([FeedSpec("https://a.example.test/rss", "A", "opml")], now)
        (feed,) = await app.store.list_feeds()
        stored = (Item("1", evil, evil, f"https://n.example.test/{evil}", now, evil),)
        poll = PollResult(feed, Outcome.OK, FetchResult(status=200), now, stored, "h",
                          matches=((),))  # fmt: skip
        await app.store.record_polls([(poll, Schedule(now, None, 0))], settings.poll.max_item_age)
    code = await asyncio.to_thread(main, ["backtest", "test-list", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0 and "Canola tariff" in out and "1 of 1 items" in out
    assert not any(ch in out for ch in "\x1b\x07\x9b\u202e\r")
    assert not any(line.startswith("fake line") for line in out.splitlines())


# --- hostile input (issue #16): every problem listed, exit 2, never a traceback ----------


def check_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *files: tuple[str, str]
) -> tuple[int, list[str]]:
    """`wirewatch check` with a folder of these watchlist files: exit code and problems."""
    folder = tmp_path / "lists"
    folder.mkdir(exist_ok=True)
    for name, text in files:
        write(folder, text, name)
    config = tmp_path / "wirewatch.yaml"
    config.write_text(f"watchlists_dir: {folder}\ndefault_feeds: false\n")
    code = main(["check", "--config", str(config)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, [line.strip() for line in err.splitlines()[1:]]


def test_infinite_and_out_of_range_numbers_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        GOOD.replace("threshold: 2", "threshold: .inf\nalert_threshold: .nan\ntitle_weight: 50")
        .replace("    aliases: [tariff]", "    weight: 1e9\n    aliases: [tariff]")
        .replace("all: [crop, trade]", "near: [crop, trade]\n  within: 99999999999999999999")
    ) + "sources:\n  - url: https://a.example.test/rss\n    interval: .inf\n"
    code, problems = check_folder(tmp_path, capsys, ("w.yaml", text))
    path = tmp_path / "lists" / "w.yaml"
    assert code == 2
    assert problems == [
        f"{path}:4: threshold: expected a finite number (not .inf or .nan)",
        f"{path}:5: alert_threshold: expected a finite number (not .inf or .nan)",
        f"{path}:6: title_weight: Input should be less than or equal to 10",
        f"{path}:11: groups.trade.weight: Input should be less than or equal to 100",
        f"{path}:15: rule.within: Input should be less than or equal to 500",
        f"{path}:18: sources.0.interval: must be at most 30d",
    ]


def test_a_rule_nested_2000_deep_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = "{all: [" * 2000 + "crop" + "]}" * 2000
    text = GOOD.replace("all: [crop, trade]", f"all: [{deep}]")
    code, problems = check_folder(tmp_path, capsys, ("w.yaml", text))
    path = tmp_path / "lists" / "w.yaml"
    assert (code, problems) == (
        2,
        [f"{path}:11: invalid YAML: values nested deeper than 50 levels"],
    )


def test_an_alias_bomb_in_a_watchlist_is_refused_with_bounded_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = alias_bomb(7, "x-laughs-again") + GOOD.replace("aliases: [tariff]", "aliases: *l7")
    path = write(tmp_path, bomb)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as caught:
            load_watchlist(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    (problem,) = caught.value.problems
    assert "aliases repeat more than 10,000 values in all (the limit)" in problem
    code, problems = check_folder(tmp_path, capsys, ("bomb.yaml", path.read_text()))
    assert code == 2 and "aliases repeat more than 10,000 values" in problems[0]


def test_aliases_within_the_budget_still_share_a_list(tmp_path: Path) -> None:
    text = (
        "id: shared\ntitle: T\ndescription: D.\ngroups:\n"
        "  trade:\n    aliases: &trade [tariff, duty]\n"
        "  again:\n    aliases: *trade\n"
        "rule: {all: [trade, again]}\n"
    )
    trade, again = load_watchlist(write(tmp_path, text)).groups
    assert trade.aliases == again.aliases and len(again.aliases) == 2


def test_duplicate_keys_in_a_watchlist_name_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("threshold: 2", "threshold: 2\nid: other\nthreshold: 3"))
    with pytest.raises(ConfigError) as caught:
        load_watchlist(path)
    assert caught.value.problems == [
        f"{path}:5: id: duplicate key (first at line 1)",
        f"{path}:6: threshold: duplicate key (first at line 4)",
    ]


@FUZZ
@given(document=st.one_of(hostile_texts(WATCHLIST_KEYS), st.binary(max_size=200)))
def test_fuzzed_watchlists_load_or_list_problems(
    document: str | bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "w.yaml"
    if isinstance(document, bytes):
        path.write_bytes(document)
    else:
        path.write_text(document, encoding="utf-8", errors="surrogatepass")
    try:
        assert isinstance(load_watchlist(path), Watchlist)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    try:
        doc = load_yaml(path)
    except ConfigError:
        return
    assert doc.values <= values_bound(path.read_bytes().decode("utf-8", "replace"))


def test_yaml_without_libyaml_reads_the_same_values_and_lines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Where PyYAML was built without libyaml, its Python parser gives the same data,
    the same lines and the same refusals (a syntax error's wording aside)."""
    monkeypatch.delattr(yaml, "cyaml")
    spec = importlib.util.spec_from_file_location("pure_yaml_source", yaml_source.__file__)
    assert spec is not None and spec.loader is not None
    pure = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, pure)
    spec.loader.exec_module(pure)
    assert pure._Parser is pure._PyParser and yaml_source._Parser is not yaml_source._PyParser
    for path in sorted(BUNDLED_DIR.glob("*.yaml")):
        fast, slow = load_yaml(path), pure.load_yaml(path)
        assert (fast.data, fast.lines, fast.problems) == (slow.data, slow.lines, slow.problems)
    refused = {
        "bomb.yaml": alias_bomb(9, "aliases"),
        "deep.yaml": "rules: " + "[" * 60 + "]" * 60 + "\n",
        "twice.yaml": "id: a\ntitle: b\nid: c\n",
        "broken.yaml": "id: a\n  title: [b\n",
    }
    for name, text in refused.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        outcomes = []
        for reader in (load_yaml, pure.load_yaml):
            try:
                outcomes.append(reader(tmp_path / name).problems)
            except ConfigError as exc:
                outcomes.append(tuple(exc.problems))
        # the same problems at the same lines; a syntax error is worded by each parser
        said = ([str(p).partition(": invalid YAML:")[0] for p in o] for o in outcomes)
        first, second = said
        assert first and first == second, name


def test_the_shipped_watchlists_list_each_alias_once_per_group() -> None:
    """A second copy of an alias in its group changes no match and hides in a long list; each
    language's form of a word is its own alias (`lang` generates different endings)."""
    for watchlist in load_watchlists(watchlist_files(BUNDLED_DIR)):
        for group in watchlist.groups:
            counts = Counter(replace(a, text=a.text.casefold()) for a in group.aliases)
            twice = sorted(a.text for a, n in counts.items() if n > 1)
            assert not twice, (watchlist.id, group.name, twice)
