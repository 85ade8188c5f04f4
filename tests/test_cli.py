"""The `wirewatch` entry point: what each command loads, and how errors become exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.arguments import ROLES
from bot.cli.main import COMMANDS, _report, main
from bot.core.errors import (
    ConfigError,
    DatabaseError,
    DeliveryError,
    FeedError,
    UsageError,
    WirewatchError,
)
from bot.service.roles import Role

HEAVY = (
    "sqlalchemy", "aiohttp", "discord", "slack_bolt", "slack_sdk", "rich", "apscheduler",
    "pydantic",
)  # fmt: skip
PROBE = """
import sys
from bot.cli.main import main
code = main(sys.argv[1:])
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
print("LOADED", ",".join(heavy))
raise SystemExit(code)
"""


def loaded_by(args: list[str], cwd: Path) -> set[str]:
    """The heavy libraries a run of `wirewatch ARGS` imported."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    line = next(line for line in proc.stdout.splitlines() if line.startswith("LOADED"))
    return set(filter(None, line.removeprefix("LOADED").strip().split(",")))


def test_health_loads_no_database_network_platform_or_validation_library(tmp_path: Path) -> None:
    assert loaded_by(["health", "--url", "http://127.0.0.1:9/readyz"], tmp_path) == set()


def test_check_loads_no_database_network_or_platform_library(tmp_path: Path) -> None:
    assert loaded_by(["check"], tmp_path) == {"pydantic"}  # it validates the config


def test_version_loads_not_even_the_settings(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c",
         "import sys\nfrom bot.cli.main import main\ntry:\n    main(['--version'])\n"
         "except SystemExit:\n    print(sorted(m for m in sys.modules if 'pydantic' in m))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.stdout.startswith("wirewatch ") and proc.stdout.rstrip().endswith("[]")


def test_every_command_has_a_handler() -> None:
    for handler in COMMANDS.values():
        module = __import__(f"bot.cli.{handler.module}", fromlist=[handler.function])
        assert callable(getattr(module, handler.function))


@pytest.mark.parametrize(
    ("error", "code", "first_line"),
    [
        (ConfigError(["wirewatch.yaml:3: poll.interval: bad"]), 2, "configuration errors:"),
        (UsageError("eval: no such file: x.jsonl"), 2, "wirewatch: eval: no such file"),
        (DatabaseError("database error: locked"), 1, "wirewatch: database error: locked"),
        (FeedError("no feed found"), 1, "wirewatch: no feed found"),
        (DeliveryError("Discord refused the bot token", retryable=False), 2, "cannot start"),
        (DeliveryError("Slack unreachable", retryable=True), 1, "cannot start"),
        (PermissionError("[Errno 13] Permission denied: 'x'"), 1, "wirewatch: [Errno 13]"),
    ],
)
def test_each_kind_of_error_has_its_exit_code_and_our_words(
    error: Exception, code: int, first_line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _report(error) == code
    err = capsys.readouterr().err
    assert first_line in err.splitlines()[0] and "Traceback" not in err


def test_a_bug_is_not_hidden_as_an_error_message() -> None:
    with pytest.raises(ZeroDivisionError):
        _report(ZeroDivisionError("a bug"))
    assert issubclass(UsageError, WirewatchError) and issubclass(ConfigError, WirewatchError)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u:secret@127.0.0.1/w", "unsupported database URL scheme 'mysql'"),
        ("postgresql://u:secret@127.0.0.1:notaport/w", "'postgresql://u:***@127.0.0.1:notaport/w' "
         "is not a database URL"),
    ],
    ids=["unsupported", "unreadable"],
)  # fmt: skip
def test_a_bad_database_url_is_a_configuration_error_shown_without_its_password(
    url: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WIREWATCH_DATABASE_URL", url)
    assert main(["feeds"]) == 2
    err = capsys.readouterr().err
    assert says in err and "secret" not in err


def test_run_once_says_what_it_left_pending(caplog: pytest.LogCaptureFixture) -> None:
    from datetime import UTC, datetime

    from bot.cli.run import _say_what_waits
    from bot.delivery.queue import Waiting

    with caplog.at_level("WARNING"):
        _say_what_waits(Waiting(3, 1, datetime(2026, 12, 6, 9, 30, tzinfo=UTC), 2))
        _say_what_waits(Waiting(0, 0, None, 0))
    assert [r.getMessage() for r in caplog.records] == [
        "3 deliveries not sent yet (1 to retry after an error, 2 held by quiet hours; the "
        "first due 2026-12-06 09:30 UTC): `wirewatch run` sends them when due",
        "2 deliveries wait for a channel whose delivery stopped: see `wirewatch subscriptions`",
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@127.0.0.1:1/w", "postgresql://u:***@127.0.0.1:1/w"),
        ("postgresql://u:se/cret@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:se@cret@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///data/x@y.db", "sqlite:///data/x@y.db"),
    ],
)
def test_a_database_url_is_shown_without_any_part_of_its_password(url: str, shown: str) -> None:
    from bot.storage.database_url import display_url

    assert display_url(url) == shown


def test_run_roles_are_the_service_s_roles() -> None:
    assert tuple(role.value for role in Role) == ROLES


def test_a_role_on_sqlite_or_once_is_refused_in_our_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "wirewatch.yaml"
    config.write_text(f"default_feeds: false\ndatabase_url: sqlite:///{tmp_path / 'w.db'}\n")
    for args in (["run", "--role", "poller"], ["run", "--role", "deliverer", "--once"]):
        assert main([*args, "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert "run --role" in err and "PostgreSQL" in err and "Traceback" not in err
