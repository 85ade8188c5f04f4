"""Config files: defaults, durations, every error listed with file and line, exit code 2;
hostile files and environment variables refused the same way."""

from __future__ import annotations

import re
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from hostile_yaml import CONFIG_KEYS, FUZZ, alias_bomb, hostile_texts, nested_lists, values_bound
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.cli.main import main
from bot.core.config import DefaultFeeds, FeedConfig, PollSettings, Settings, load_settings
from bot.core.environment import DiscordSettings, SlackSettings
from bot.core.errors import ConfigError
from bot.core.safe_text import CONTROLS
from bot.core.yaml_source import MAX_DEPTH, load_yaml
from bot.matching.watchlists import BUNDLED_DIR


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


def test_allow_private_takes_host_names_addresses_and_ranges(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        "poll:\n  allow_private:\n    - intranet.example.org\n    - 10.20.0.0/16\n"
        "    - 127.0.0.1\n    - '[fd00::1]'\n"
    )
    allowed = load_settings(path).poll.allow_private
    assert allowed == ["intranet.example.org", "10.20.0.0/16", "127.0.0.1", "[fd00::1]"]
    path.write_text("poll:\n  allow_private: [ok.example, 'http://x/', 10.0.0.0/33]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:2: poll.allow_private:")
    assert "'http://x/' is neither a host name nor an address or CIDR range" in problem


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
    assert "feeds: 1 declared feed (1 config)" in capsys.readouterr().out


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
    assert PollSettings.model_validate({"interval": "1h30m"}).interval == timedelta(minutes=90)
    assert PollSettings.model_validate({"interval": 120}).interval == timedelta(seconds=120)
    assert PollSettings.model_validate({"max_bytes": "10MiB"}).max_bytes == 10 * 1024 * 1024
    assert PollSettings.model_validate({"max_bytes": "500 kB"}).max_bytes == 500_000
    for bad in ("ten minutes", "5x", True):
        with pytest.raises(ValueError):
            PollSettings.model_validate({"interval": bad})


def test_the_web_section_is_checked_with_the_rest_in_one_pass(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        "poll:\n"
        "  concurrency: 0\n"
        "web:\n"
        "  host: 0.0.0.0\n"
        "  port: 70000\n"
        "  prot: 8080\n"
        "colour: blue\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    problems = caught.value.problems
    assert [p.split(": ", 2)[:2] for p in problems] == [
        [f"{path}:2", "poll.concurrency"],
        [f"{path}:5", "web.port"],
        [f"{path}:6", "web.prot"],
        [f"{path}:7", "colour"],
    ]
    assert f"{path}:5: web.port: 70000 is not a port number (0 to 65535)" in problems


def test_health_reads_only_the_web_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core.web_settings import WebSettings, read_web_settings

    path = tmp_path / "wirewatch.yaml"
    path.write_text("poll:\n  concurrency: 0\nweb:\n  host: 0.0.0.0\n  port: 8081\n")
    assert read_web_settings(path) == WebSettings("0.0.0.0", 8081)  # the rest is check's job
    monkeypatch.setenv("WIREWATCH_WEB_PORT", "9090")
    assert read_web_settings(path) == WebSettings("0.0.0.0", 9090)
    monkeypatch.setenv("WIREWATCH_WEB_PORT", "90x")
    with pytest.raises(
        ConfigError, match="WIREWATCH_WEB_PORT: expected a port number from 0 to 65535, not '90x'"
    ):
        read_web_settings(path)


# --- hostile input (issue #16): every problem listed, exit 2, never a traceback ----------


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """`wirewatch check --config path`: the exit code and the problems it printed."""
    code = main(["check", "--config", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, [line.strip() for line in err.splitlines()[1:]]


def test_overflowing_durations_are_listed_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        "poll:\n"
        "  interval: .inf\n"
        "  max_item_age: 99999999999999d\n"
        "  max_backoff: 99999999999w\n"
        "  tick: .nan\n"
        f"  read_timeout: {'9' * 400}s\n"
        "delivery:\n"
        "  pacing: {slack: -.inf}\n"
    )
    code, problems = check(path, capsys)
    assert code == 2
    assert problems == [
        f"{path}:2: poll.interval: must be at most 30d",
        f"{path}:3: poll.max_item_age: must be at most 365d",
        f"{path}:4: poll.max_backoff: must be at most 30d",
        f"{path}:5: poll.tick: expected a duration such as 90s, 15m, 2h or 1d, not .nan",
        f"{path}:6: poll.read_timeout: must be at most 1h",
        f"{path}:8: delivery.pacing.slack: must be at least 0s",
    ]


def test_every_duration_and_number_is_held_to_its_range(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        "feeds:\n"
        "  - url: https://a.example.test/feed\n"
        "    interval: 30s\n"
        "poll:\n"
        "  interval: 31d\n"
        "  tick: 2h\n"
        "  connect_timeout: 0.5s\n"
        "  total_timeout: 2h\n"
        "  max_item_age: 30m\n"
        "  max_backoff: 10s\n"
        "  dead_after: 100000\n"
        "delivery:\n"
        "  retry_for: 12h\n"
        "  max_backoff: 2d\n"
        "  pacing: {discord: 2h}\n"
        "subscriptions:\n"
        "  - channel: console\n"
        "    watchlists: [canola]\n"
        "    min_score: .inf\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        f"{path}:3: feeds.0.interval: must be at least 1m",
        f"{path}:5: poll.interval: must be at most 30d",
        f"{path}:6: poll.tick: must be at most 1h",
        f"{path}:7: poll.connect_timeout: must be at least 1s",
        f"{path}:8: poll.total_timeout: must be at most 1h",
        f"{path}:9: poll.max_item_age: must be at least 1h",
        f"{path}:10: poll.max_backoff: must be at least 1m",
        f"{path}:11: poll.dead_after: Input should be less than or equal to 1000",
        f"{path}:13: delivery.retry_for: must be at least 1d",
        f"{path}:14: delivery.max_backoff: must be at most 1d",
        f"{path}:15: delivery.pacing.discord: must be at most 1h",
        f"{path}:19: subscriptions.0.min_score: expected a finite number (not .inf or .nan)",
    ]


@pytest.mark.parametrize("size", ["-1", "0", "1023", "101MiB", f"{'9' * 400}GB"])
def test_max_bytes_too_small_or_too_large_is_an_error(size: str, tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(f"poll:\n  max_bytes: {size}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:2: poll.max_bytes: must be at ")


def test_a_nul_byte_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text("default_feeds: false\npoll:\n  interval: 5m\x00\n")
    assert check(path, capsys) == (
        2,
        [f"{path}:3: invalid YAML: the character U+0000 is not allowed in YAML"],
    )
    path.write_text('data_dir: "state\\0"\n')  # an escaped NUL is YAML, not a path
    assert check(path, capsys) == (
        2,
        [f"{path}:1: data_dir: must not contain control characters (a NUL, a newline, an escape)"],
    )


def test_nesting_5000_deep_is_refused_past_50_levels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(nested_lists(5000, "feeds"))
    assert check(path, capsys) == (
        2,
        [f"{path}:1: invalid YAML: values nested deeper than 50 levels"],
    )
    path.write_text(nested_lists(MAX_DEPTH - 1, "feeds"))  # 49 lists in the top mapping: fine
    code, problems = check(path, capsys)
    assert code == 2 and "nested" not in "".join(problems)  # wrong, but read


def test_a_cyclic_alias_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text("feeds: &loop [*loop]\n")
    code, problems = check(path, capsys)
    assert code == 2 and len(problems) == 1
    assert problems[0].startswith(f"{path}:1: feeds.0.0.0.")
    assert problems[0].endswith(": values nested deeper than 50 levels")


def test_an_alias_bomb_is_refused_with_bounded_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wirewatch.yaml"
    for levels in (7, 9):  # 10**7 and 10**9 values: 10.5 s and 1.3 GB, and past a minute
        path.write_text(alias_bomb(levels, "feeds"))
        tracemalloc.start()
        try:
            with pytest.raises(ConfigError) as caught:
                load_settings(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        (problem,) = caught.value.problems
        assert problem.startswith(f"{path}:")
        assert "aliases repeat more than 10,000 values in all (the limit)" in problem
        assert peak < 50 * 2**20
    code, problems = check(path, capsys)
    assert code == 2 and "aliases repeat more than 10,000 values" in problems[0]
    path.write_text(alias_bomb(2, "x-copy"))  # a few hundred repeats: within the budget
    assert len(load_yaml(path).data["x-copy"]) == 10


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        "poll:\n  interval: 5m\n  tick: 10s\n  interval: 0s\ndefault_feeds: false\ncolour: x\n"
        "default_feeds: true\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        f"{path}:4: poll.interval: duplicate key (first at line 2)",
        f"{path}:6: colour: unknown key",  # and the rest of the file is checked too
        f"{path}:7: default_feeds: duplicate key (first at line 5)",
    ]


def test_values_yaml_cannot_build_are_listed_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        "data_dir: !!timestamp 2001-13-45\n"
        f"poll:\n  concurrency: {'9' * 5000}\n  dead_after: 0x{'f' * 40}\n"
        "database_url: !secret x\n"
        "? [a, b]\n: 1\n"
        "web: &web {port: 80}\n"
        "delivery:\n  <<: *web\n"
        "feeds: [{url: 5}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        f"{path}:1: data_dir: '2001-13-45' is not a date or time",
        f"{path}:3: poll.concurrency: a number this large is not a setting",
        f"{path}:4: poll.dead_after: a number this large is not a setting",
        f"{path}:5: database_url: unsupported tag '!secret'",
        f"{path}:6: (top level): a key must be a name or a number, not a list or mapping",
        f"{path}:10: delivery: merge keys (<<) are not supported; write the keys out",
        f"{path}:11: feeds.0.url: Input should be a valid string",
    ]


def test_watchlists_dir_must_be_a_folder_of_watchlists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wirewatch.yaml"
    (tmp_path / "empty").mkdir()
    for folder, problem in [
        ("/nonexistent", "/nonexistent does not exist"),
        ("wirewatch.yaml", f"{path} is not a folder"),
        ("empty", f"{tmp_path / 'empty'} holds no watchlist files (*.yaml)"),
    ]:
        path.write_text(f"default_feeds: false\nwatchlists_dir: {folder}\npoll: {{tick: 0s}}\n")
        assert check(path, capsys) == (
            2,
            [
                f"{path}:2: watchlists_dir: {problem}",
                f"{path}:3: poll.tick: must be longer than 0s",
            ],
        )


def test_a_digest_that_never_fires_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        "subscriptions:\n  - channel: console\n    watchlists: [canola]\n    digest: '0 8 30 2 *'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        f"{path}:4: subscriptions.0.digest: '0 8 30 2 *' never fires again"
    ]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("WIREWATCH_WEB_PORT", "http", "expected a port number from 0 to 65535, not 'http'"),
        ("WIREWATCH_WEB_PORT", "65536", "expected a port number from 0 to 65535, not '65536'"),
        ("WIREWATCH_WEB_PORT", "-1", "expected a port number from 0 to 65535, not '-1'"),
        ("WIREWATCH_WEB_HOST", "a b", "'a b' is not a host name or address"),
        ("WIREWATCH_WATCHLISTS", "/nonexistent", "/nonexistent does not exist"),
        ("WIREWATCH_DATA_DIR", "da\x1bta", "must not contain control characters"),
        ("WIREWATCH_DATABASE_URL", "sqlite:///a\x07", "must not contain control characters"),
    ],
)
def test_a_bad_environment_override_names_the_variable(
    name: str,
    value: str,
    problem: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text("default_feeds: false\npoll: {tick: 0s}\n")
    monkeypatch.setenv(name, value)
    assert check(path, capsys) == (
        2,
        [f"{path}:2: poll.tick: must be longer than 0s", f"{name}: {problem}"],
    )


def test_an_environment_override_replaces_the_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text("watchlists_dir: gone\nweb: {port: 1}\n")
    monkeypatch.setenv("WIREWATCH_WATCHLISTS", str(BUNDLED_DIR))
    monkeypatch.setenv("WIREWATCH_WEB_PORT", "8080")
    settings = load_settings(path)
    assert settings.watchlists_dir == BUNDLED_DIR and settings.web.port == 8080


@FUZZ
@given(document=st.one_of(hostile_texts(CONFIG_KEYS), st.binary(max_size=200)))
def test_fuzzed_config_files_load_or_list_problems(
    document: str | bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "wirewatch.yaml"
    if isinstance(document, bytes):
        path.write_bytes(document)
    else:
        path.write_text(document, encoding="utf-8", errors="surrogatepass")
    try:
        assert isinstance(load_settings(path), Settings)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    try:
        doc = load_yaml(path)
    except ConfigError:
        return
    assert doc.values <= values_bound(path.read_bytes().decode("utf-8", "replace"))


# --- hostile environment variables (issue #16): an error naming the variable ------------


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("WIREWATCH_SLACK_SOCKET_MODE", "flase", "expected true or false, not 'flase'"),
        ("WIREWATCH_SLACK_ADMINS", "U0123ABCD,bob", "'bob' is not a Slack user or user group id"),
        ("WIREWATCH_SLACK_API_URL", "slack.com/api", "'slack.com/api' is not an http(s) URL"),
        ("WIREWATCH_SLACK_BOT_TOKEN", "xoxb-1\nX-Evil: 1", "a space or a control character"),
    ],
)
def test_a_bad_platform_variable_names_the_variable(
    name: str, value: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        SlackSettings.from_env()
    (message,) = caught.value.problems
    assert message.startswith(f"{name}: {problem}")
    assert "X-Evil" not in message  # a secret is never shown


def test_a_secret_file_is_read_within_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "token"
    for data, problem in [
        (b"x" * 70_000, "is longer than a secret (65,536 bytes)"),
        (b"\xff\xfe", "is not UTF-8 text"),
        (b"tok en\n", "a space or a control character inside the value"),
    ]:
        secret.write_bytes(data)
        monkeypatch.setenv("WIREWATCH_DISCORD_TOKEN_FILE", str(secret))
        with pytest.raises(ConfigError) as caught:
            DiscordSettings.from_env()
        assert caught.value.problems[0].startswith("WIREWATCH_DISCORD_TOKEN_FILE: ")
        assert caught.value.problems[0].endswith(problem)
    monkeypatch.setenv("WIREWATCH_DISCORD_API_URL", "proxy:8080")
    monkeypatch.delenv("WIREWATCH_DISCORD_TOKEN_FILE")
    with pytest.raises(ConfigError, match="WIREWATCH_DISCORD_API_URL: 'proxy:8080' is not"):
        DiscordSettings.from_env()


def test_a_relative_watchlists_variable_is_read_from_the_working_folder_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.matching.watchlists import BUNDLED_DIR

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "wirewatch.yaml").write_text("default_feeds: false\n")
    mine = tmp_path / "lists"
    mine.mkdir()
    source = (BUNDLED_DIR / "canola.yaml").read_text(encoding="utf-8")
    (mine / "mine.yaml").write_text(source.replace("id: canola", "id: mine", 1), "utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WIREWATCH_WATCHLISTS", "lists")  # relative to here, not to conf/
    assert main(["check", "--config", str(conf / "wirewatch.yaml")]) == 0
    assert "1 from lists (mine)" in capsys.readouterr().out


# --- a feed's own request settings and the bundled feeds' groups (issue #22) -------------


def test_a_feed_s_user_agent_and_headers_are_checked_at_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(
        "feeds:\n"
        "  - url: https://www.producer.com/feed/\n"
        '    user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/140.0.0.0"\n'
        "    headers:\n"
        "      Accept: 'application/rss+xml, */*'\n"
        "      Cookie: consent=yes\n"
    )
    (feed,) = load_settings(path).feeds
    assert feed.user_agent == "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/140.0.0.0"
    assert feed.headers == {"Accept": "application/rss+xml, */*", "Cookie": "consent=yes"}
    path.write_text(
        "feeds:\n"
        "  - url: https://a.example.test/feed\n"
        '    user_agent: "bot\\r\\nX-Evil: 1"\n'
        "    headers:\n"
        "      Host: other.example.test\n"
        "      content-length: 0\n"
        '      X-Split: "a\\nb"\n'
        "      Bad Name: x\n"
        "      DNT: 1\n"
        "      User-Agent: me\n"
        "  - url: https://b.example.test/feed\n"
        "    headers: {Accept: a, accept: b}\n"
        "    user_agent: ''\n"
        "poll:\n"
        '  user_agent: "caf\\xe9"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    ascii_only = "must be printable ASCII: no control character, newline or non-ASCII letter"
    assert caught.value.problems == [
        f"{path}:3: feeds.0.user_agent: user_agent {ascii_only}",
        f"{path}:5: feeds.0.headers.Host: Host cannot be set per feed: the fetcher sets it "
        "from the URL",
        f"{path}:6: feeds.0.headers.content-length: content-length cannot be set per feed: "
        "the fetcher sets it",
        f"{path}:7: feeds.0.headers.X-Split: a header's value {ascii_only}",
        f"{path}:8: feeds.0.headers.Bad Name: 'Bad Name' is not a header name (letters, "
        "digits and !#$%&'*+-.^_`|~)",
        f"{path}:9: feeds.0.headers.DNT: Input should be a valid string",
        f"{path}:10: feeds.0.headers.User-Agent: User-Agent cannot be set per feed: set the "
        "feed's `user_agent` instead",
        f"{path}:12: feeds.1.headers: accept is given twice (also as Accept)",
        f"{path}:13: feeds.1.user_agent: must not be empty (leave it out for the bot's own)",
        f"{path}:15: poll.user_agent: user_agent {ascii_only}",
    ]


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@given(
    name=st.one_of(st.text(max_size=20), st.from_regex(_TOKEN, fullmatch=True)),
    value=st.one_of(st.text(max_size=40), st.text(st.characters(max_codepoint=127))),
)
def test_a_header_the_config_takes_is_one_a_request_can_carry(name: str, value: str) -> None:
    try:
        feed = FeedConfig(url="https://a.example.test/feed", headers={name: value})
    except ValidationError:
        return
    ((sent_name, sent_value),) = feed.headers.items()
    assert _TOKEN.fullmatch(sent_name)
    assert sent_name.lower() not in {"host", "content-length", "transfer-encoding", "user-agent"}
    assert sent_value.isascii() and sent_value.isprintable() and sent_value == sent_value.strip()
    assert not CONTROLS.search(sent_name + sent_value)


def test_default_feeds_takes_true_false_or_groups_with_errors_at_their_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wirewatch.yaml"
    for text, expected in (
        ("default_feeds: false\n", DefaultFeeds(include=[])),
        ("default_feeds: true\n", DefaultFeeds()),
        ("default_feeds: {exclude: [news-search, china]}\n",
         DefaultFeeds(exclude=["news-search", "china"])),
        ("default_feeds:\n  include: [agriculture]\n", DefaultFeeds(include=["agriculture"])),
    ):  # fmt: skip
        path.write_text(text)
        assert load_settings(path).bundled_groups == expected
    path.write_text("default_feeds:\n  exclude:\n    - china\n    - chian\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        f"{path}:4: default_feeds.exclude.1: unknown feed group 'chian' (the groups: "
        "canadian-politics, japan, taiwan, china, defence, agriculture, government, news-search)"
    ]
    for text, problem in (
        ("default_feeds: [china]", "a list of groups is ambiguous: write {exclude: [...]} to "
         "leave them out or {include: [...]} to poll only them"),
        ("default_feeds: 3", "expected true, false, {exclude: [groups]} or {include: [groups]}"),
        ("default_feeds: {include: [china], exclude: [japan]}",
         "give include or exclude, not both"),
    ):  # fmt: skip
        path.write_text(f"data_dir: d\n{text}\n")
        with pytest.raises(ConfigError) as caught:
            load_settings(path)
        assert caught.value.problems == [f"{path}:2: default_feeds: {problem}"]
    path.write_text("default_feeds: {only: [china]}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [f"{path}:1: default_feeds.only: unknown key"]


def test_stale_after_is_held_to_its_range(tmp_path: Path) -> None:
    assert Settings().poll.stale_after == timedelta(days=90)
    path = tmp_path / "wirewatch.yaml"
    path.write_text("poll:\n  stale_after: 12h\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [f"{path}:2: poll.stale_after: must be at least 1d"]


def test_retention_is_on_by_default_off_by_word_and_checked_at_its_lines(
    tmp_path: Path,
) -> None:
    defaults = Settings().retention
    assert defaults.enabled and defaults.items == timedelta(days=90)
    assert (defaults.matches, defaults.deliveries) == (timedelta(days=730), timedelta(days=180))
    path = tmp_path / "wirewatch.yaml"
    for text in ("retention: off\n", "retention: false\n", "retention: {enabled: false}\n"):
        path.write_text(text)
        assert not load_settings(path).retention.enabled
    path.write_text("retention:\n  items: 30d\n  matches: never\n  deliveries: 1y\n")
    kept = load_settings(path).retention
    assert (kept.items, kept.matches, kept.deliveries) == (
        timedelta(days=30),
        None,
        timedelta(days=365),
    )
    path.write_text(
        "data_dir: d\nretention:\n  items: 1d\n  matches: 2 years\n  every: 0s\n  seen: 3d\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        f"{path}:3: retention.items: must be at least 7d",
        f"{path}:4: retention.matches: '2 years' is not a duration such as 90s, 15m, 2h or 1d",
        f"{path}:5: retention.every: must be longer than 0s",
        f"{path}:6: retention.seen: unknown key",
    ]
    path.write_text("data_dir: d\nretention: 90d\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        f"{path}:2: retention: expected off, on, or a mapping of items, matches, deliveries, "
        "seen_keys and every (docs/configuration.md)"
    ]
