"""Config files: defaults, durations, every error listed with file and line, exit code 2."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.core.config import Settings, load_settings, parse_byte_size, parse_duration
from bot.core.errors import ConfigError


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    assert settings == Settings()
    assert settings.resolved_database_url() == "sqlite+aiosqlite:///data/wirewatch.db"
    assert settings.poll.max_bytes == 10 * 1024 * 1024
    assert settings.poll.max_item_age == timedelta(hours=48)
    assert settings.poll.max_items == 500


def test_max_items_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    for value, line in ((5, 2), (50_000, 2)):
        path.write_text(f"poll:\n  max_items: {value}\n")
        with pytest.raises(ConfigError) as caught:
            load_settings(path)
        assert caught.value.problems[0].startswith(f"{path}:{line}: poll.max_items:")
    path.write_text("poll:\n  max_items: 2000\n")
    assert load_settings(path).poll.max_items == 2000


def test_every_error_is_listed_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        "feeds:\n"
        "  - url: ftp://example.test/feed\n"
        "  - url: https://ok.example.test/feed\n"
        "    interval: soon\n"
        "poll:\n"
        "  concurrency: 0\n"
        "  intervall: 5m\n"
        "colour: blue\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    problems = caught.value.problems
    assert len(problems) == 5
    assert problems[0].startswith(f"{path}:2: feeds.0.url:")
    assert any(p.startswith(f"{path}:4: feeds.1.interval:") and "soon" in p for p in problems)
    assert any(p.startswith(f"{path}:6: poll.concurrency:") for p in problems)
    assert f"{path}:7: poll.intervall: unknown key" in problems
    assert f"{path}:8: colour: unknown key" in problems


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("feeds:\n  - url: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems[0].startswith(f"{path}:")
    assert "invalid YAML" in caught.value.problems[0]


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "wirewatch.yaml"
    path.parent.mkdir()
    path.write_text("data_dir: state\n")
    assert load_settings(path).data_dir == tmp_path / "conf" / "state"


def test_cli_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text("poll:\n  max_bytes: lots\n")
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "poll.max_bytes" in err and ":2:" in err and "Traceback" not in err
    assert main(["check", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_env_var_names_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text("default_feeds: false\nfeeds:\n  - url: http://127.0.0.1:1/feed\n")
    monkeypatch.setenv("WIREWATCH_CONFIG", str(path))
    assert main(["check"]) == 0
    assert "5 declared feeds (1 config, 4 watchlist)" in capsys.readouterr().out


def test_intervals_and_timeouts_must_be_longer_than_zero(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text("poll:\n  read_timeout: 0s\n  interval: -5\n  max_backoff: 6h\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert sorted(caught.value.problems) == [
        f"{path}:2: poll.read_timeout: must be longer than 0s",
        f"{path}:3: poll.interval: must be longer than 0s",
    ]


def test_duration_and_size_parsing() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration(45) == timedelta(seconds=45)
    assert parse_byte_size("10MiB") == 10 * 1024 * 1024
    assert parse_byte_size("500 kB") == 500_000
    for bad in ("ten minutes", "5x", True):
        with pytest.raises(ValueError):
            parse_duration(bad)
