"""`wirewatch init`: write a commented starter config file, never over an existing one."""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

from bot.core.errors import UsageError


def init(args: argparse.Namespace) -> int:
    """Write the starter `wirewatch.yaml` (or the path given); exit 0, or 2 when the file
    exists or its folder does not."""
    target: Path = args.file
    if target.exists():
        raise UsageError(f"init: {target} exists already; it was left as it is")
    if not target.parent.is_dir():
        raise UsageError(f"init: no folder {target.parent} to write {target.name} in")
    starter = files("bot.cli").joinpath("samples/starter.yaml").read_text(encoding="utf-8")
    with target.open("x", encoding="utf-8") as out:  # "x": never over a file made meanwhile
        out.write(starter)
    print(
        f"wrote {target}: your feeds and subscriptions go there. Next: `wirewatch check`, "
        "then `wirewatch run`."
    )
    return 0
