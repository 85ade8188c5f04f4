"""README's quick start, done as a newcomer does it: its commands run in a fresh copy of
the project and a fresh virtual environment, then `wirewatch demo` shows an alert.

No registry is reached: the install takes no dependencies (`--no-deps
--no-build-isolation`); the fresh environment finds them in this test environment through
a path file, and `pip check` proves they satisfy what the project declares.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # creates a virtual environment and installs into it

REPO = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """The shell commands of README's quick start, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Quick start")
    section = text[start : text.index("\n## ", start + 1)]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_gives_the_venv_the_run_and_the_test_command_ci_runs() -> None:
    venv, run, tests = readme_commands()
    assert venv == "python3 -m venv .venv && . .venv/bin/activate"
    assert run == "python3 -m pip install -e . && wirewatch run"
    assert tests == "python3 -m pip install -e '.[test]' && python3 -m pytest"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci.replace(" -q", "") == tests


def sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


def test_the_quick_start_on_a_fresh_copy_shows_an_alert(tmp_path: Path) -> None:
    venv_step, run_step, _ = readme_commands()
    src = tmp_path / "wirewatch"
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    venv_command, activate = venv_step.split(" && ")
    sh(venv_command.replace("python3", shlex.quote(sys.executable)), src)
    python = src / ".venv" / "bin" / "python"
    purelib = sh(f"{python} -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])'", src)
    deps = sysconfig.get_paths()["purelib"]
    Path(purelib.stdout.strip(), "zz-test-dependencies.pth").write_text(deps + "\n")
    install, wirewatch_run = run_step.split(" && ")
    assert install == "python3 -m pip install -e ." and wirewatch_run == "wirewatch run"
    # pip would fetch the build backend pyproject.toml asks for; offline, the venv's own
    # (older) setuptools goes, so that this environment's is the one found
    sh(f"{python} -m pip uninstall -y -q setuptools", src)
    sh(f"{activate} && {install} --no-deps --no-build-isolation -q && pip check", src)
    shown = sh(f"{activate} && wirewatch demo", src).stdout
    assert "First poll: 3 items recorded as the baseline, none reported" in shown
    assert "ALERT · China imposes 100% tariff on Canadian canola oil and meal" in shown
    assert "DIGEST · " in shown
    assert not (src / "data").exists()  # the demo leaves the newcomer's folder as it was
