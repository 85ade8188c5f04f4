"""A newcomer's first commands: `wirewatch demo` shows an alert and a digest with no
network or setup, and `wirewatch init` writes a starter config that `check` accepts."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.core.config import RetentionSettings, load_settings


def test_demo_shows_a_baseline_then_alerts_and_a_digest_from_loopback_feeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "First poll: 3 items recorded as the baseline, none reported" in out
    alerts = [line for line in out.splitlines() if line.startswith("ALERT · ")]
    assert alerts == [
        "ALERT · China imposes 100% tariff on Canadian canola oil and meal",
        "ALERT · Canadian frigate sails through Taiwan Strait; PLA says it tracked the warship",
        "ALERT · Canada and Japan sign agreement to share classified defence information",
    ]  # the second outlet's canola headline is the same story: one alert, "also: ..."
    assert "also: Pacific Desk (sample)" in out
    assert out.count("DIGEST · ") == 1 and "3 stories since" in out
    assert list(tmp_path.iterdir()) == []  # nothing of the user's touched: no data/ folder


def test_init_writes_a_starter_config_that_check_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert "wrote wirewatch.yaml" in capsys.readouterr().out
    assert main(["check"]) == 0
    assert "configuration OK" in capsys.readouterr().out


def test_the_starters_commented_retention_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The starter shows `retention:` commented out with its defaults: uncommented, it
    changes nothing."""
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    written = (tmp_path / "wirewatch.yaml").read_text()
    lines = written.splitlines()
    start = lines.index("# retention:")
    block = list(itertools.takewhile(lambda line: line.startswith("# "), lines[start:]))
    uncommented = tmp_path / "uncommented.yaml"
    uncommented.write_text(written.replace("\n".join(block), "\n".join(b[2:] for b in block)))
    settings = load_settings(uncommented)
    # `retention:`, then each of its settings but `enabled` (which `off` sets)
    assert len(block) == len(RetentionSettings.model_fields)
    assert "retention" in settings.model_fields_set
    assert (
        settings.retention
        == RetentionSettings()
        == load_settings(tmp_path / "wirewatch.yaml").retention
    )


def test_init_never_overwrites_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "wirewatch.yaml"
    mine.write_text("feeds: []\n")
    assert main(["init"]) == 2
    assert "wirewatch.yaml exists already" in capsys.readouterr().err
    assert mine.read_text() == "feeds: []\n"
    assert main(["init", str(tmp_path / "missing" / "w.yaml")]) == 2
    assert "no folder" in capsys.readouterr().err


def test_the_demo_reaches_no_chat_platform_whatever_tokens_are_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WIREWATCH_SLACK_BOT_TOKEN", "xoxb-a-real-workspace")
    monkeypatch.setenv("WIREWATCH_SLACK_API_URL", "http://127.0.0.1:9/api/")  # nobody there
    assert main(["demo"]) == 0  # with the Slack adapter it would fail to start
    assert "ALERT · " in capsys.readouterr().out
