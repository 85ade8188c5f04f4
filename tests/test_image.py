"""The Docker image without a Docker engine: the Dockerfile parsed by the official parser
(the `dockerfile` package), compose.yaml and .env.example checked against the code, and
the image's install steps and command performed in a fresh virtual environment.

No registry is reached: the wheel stage builds only our own wheel (`--no-deps
--no-build-isolation`), and the fresh environment takes the dependencies from this test
environment through a path file, then `pip check` proves they satisfy what the wheel
declares. Everything else (the wheel's contents, the entry point, the image's ENV,
WORKDIR, CMD and HEALTHCHECK, SIGTERM) runs as it would in the image.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import dockerfile
import pytest
import yaml
from feedserver import Feed, FeedServer, rss

pytestmark = pytest.mark.slow  # starts whole processes

REPO = Path(__file__).resolve().parent.parent
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|WEBHOOK", re.IGNORECASE)


def stages() -> list[list[dockerfile.Command]]:
    """The Dockerfile's instructions, one list per stage (each starts with FROM)."""
    result: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(REPO / "Dockerfile")):
        if command.cmd == "FROM":
            result.append([])
        if result:
            result[-1].append(command)
    return result


def instructions(stage: Sequence[dockerfile.Command], name: str) -> list[dockerfile.Command]:
    return [c for c in stage if c.cmd == name]


def env_of(stage: Sequence[dockerfile.Command]) -> dict[str, str]:
    """The ENV of a stage (`ENV K=V K2=V2` form)."""
    values = [v for c in instructions(stage, "ENV") for v in c.value]
    return dict(zip(values[::2], values[1::2], strict=True))


def test_the_image_is_multi_stage_slim_and_runs_as_a_user_with_a_data_volume() -> None:
    build, runtime = stages()
    assert build[0].value[-2:] == ("AS", "build")
    for stage in (build, runtime):
        image = stage[0].value[0]
        assert image.startswith("python:") and image.endswith("-slim"), image
    (user,) = instructions(runtime, "USER")
    assert user.value[0] not in ("root", "0")
    assert any("useradd" in c.original and user.value[0] in c.original for c in runtime)
    assert instructions(runtime, "VOLUME")[0].value == ("/data",)
    assert env_of(runtime)["WIREWATCH_DATA_DIR"] == "/data"
    assert instructions(runtime, "WORKDIR")[-1].value == ("/config",)
    (expose,) = instructions(runtime, "EXPOSE")
    assert expose.value == (env_of(runtime)["WIREWATCH_WEB_PORT"],)


def test_the_image_asks_the_bot_for_its_health_and_stops_on_sigterm() -> None:
    runtime = stages()[-1]
    (health,) = instructions(runtime, "HEALTHCHECK")
    assert health.json and health.value == ("CMD", "wirewatch", "health")
    (entrypoint,) = instructions(runtime, "ENTRYPOINT")
    (cmd,) = instructions(runtime, "CMD")
    assert entrypoint.json and entrypoint.value == ("wirewatch",)  # exec form: PID 1 gets SIGTERM
    assert cmd.json and cmd.value == ("run",)
    assert instructions(runtime, "STOPSIGNAL")[0].value == ("SIGTERM",)


def test_no_secret_is_baked_into_the_image() -> None:
    for stage in stages():
        for command in instructions(stage, "ENV") + instructions(stage, "ARG"):
            assert not SECRET_NAME.search(" ".join(command.value)), command.original
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored and "data" in ignored


def test_compose_runs_the_bot_on_sqlite_and_adds_postgres_in_a_profile() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    bot, postgres = compose["services"]["wirewatch"], compose["services"]["postgres"]
    assert "profiles" not in bot and postgres["profiles"] == ["postgres"]
    assert any(v.endswith(":/data") for v in bot["volumes"])
    assert bot["depends_on"]["postgres"] == {"condition": "service_healthy", "required": False}
    assert int(bot["stop_grace_period"].rstrip("s")) >= 20
    password = postgres["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${")  # from .env, never in the file


def test_env_example_lists_every_variable_the_bot_reads() -> None:
    read = {
        name
        for folder in ("bot", "adapters")
        for path in (REPO / folder).glob("*.py")
        for name in re.findall(r"WIREWATCH_[A-Z_]+", path.read_text(encoding="utf-8"))
    }
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^# (WIREWATCH_[A-Z_]+)=", example, re.MULTILINE))
    for name in sorted(read):
        prefix = name.endswith("_")  # WIREWATCH_SLACK_WEBHOOK_<NAME>
        assert any(n.startswith(name) for n in listed) if prefix else name in listed, name
    assert not re.search(r"^[A-Z_]+=", example, re.MULTILINE)  # nothing overrides the image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: Sequence[str], cwd: Path) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{shlex.join(args)}\n{result.stdout}\n{result.stderr}"


def install_like_the_image(tmp: Path) -> Path:
    """Copy what the build stage copies, run its `pip wheel`, then the runtime stage's
    `pip install` into a fresh venv; return the venv's bin folder."""
    build, runtime = stages()
    context = tmp / "src"
    context.mkdir()
    for copy in instructions(build, "COPY"):
        *sources, target = copy.value
        for source in sources:
            origin = REPO / source
            if origin.is_dir():
                skip = shutil.ignore_patterns("__pycache__")
                shutil.copytree(origin, context / target, ignore=skip)
            else:
                shutil.copy(origin, context / target)
    wheels = tmp / "wheels"
    (wheel_step,) = [c for c in instructions(build, "RUN") if "pip wheel" in c.original]
    args = shlex.split(wheel_step.value[0].replace("/wheels", str(wheels)))
    assert args[:2] == ["pip", "wheel"]  # the build stage: this environment plays its part
    run([sys.executable, "-m", *args, "--no-deps", "--no-build-isolation"], context)
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    (install_step,) = [c for c in instructions(runtime, "RUN") if "pip install" in c.original]
    install = install_step.value[0].split("&&")[0].replace("/wheels", str(wheels))
    args = shlex.split(install)
    assert args[:2] == ["pip", "install"]
    deps = sysconfig.get_paths()["purelib"]
    purelib = subprocess.run(
        [*pip[:1], "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    run([*pip, *args[1:], "--no-deps"], tmp)
    Path(purelib, "zz-test-dependencies.pth").write_text(deps + "\n", encoding="utf-8")
    run([*pip, "check"], tmp)
    return venv / "bin"


async def test_the_image_install_steps_give_a_bot_that_runs_reports_healthy_and_stops(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    bin_dir = await asyncio.to_thread(install_like_the_image, tmp_path)
    runtime = stages()[-1]
    config, data = tmp_path / "config", tmp_path / "data"  # the image's /config and /data
    config.mkdir()
    data.mkdir()
    feed_server.feeds["/wire.xml"] = Feed(rss([("1", "Canola", "https://news.example.test/1")]))
    (config / "wirewatch.yaml").write_text(
        f"default_feeds: false\nfeeds:\n  - url: {feed_server.url('/wire.xml')}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env |= env_of(runtime)
    env |= {"WIREWATCH_DATA_DIR": str(data), "WIREWATCH_WEB_PORT": str(free_port())}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    entry = instructions(runtime, "ENTRYPOINT")[0].value + instructions(runtime, "CMD")[0].value
    bot = await asyncio.create_subprocess_exec(
        *entry, cwd=config, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        health = instructions(runtime, "HEALTHCHECK")[0].value[1:]
        for _ in range(60):
            probe = await asyncio.create_subprocess_exec(
                *health, cwd=config, env=env, stdout=asyncio.subprocess.PIPE
            )
            out, _ = await probe.communicate()
            if probe.returncode == 0:
                break
            await asyncio.sleep(0.5)
        assert probe.returncode == 0, out.decode()
        assert "store: ok" in out.decode()
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(bot.communicate(), 30)
    assert bot.returncode == 0, err.decode()[-2000:]
    assert (data / "wirewatch.db").exists()
    assert shutil.which("wirewatch", path=env["PATH"]) == str(bin_dir / "wirewatch")
