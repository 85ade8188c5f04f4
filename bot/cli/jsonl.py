"""JSON lines for a terminal: the data as it is, every control or invisible character
written as a JSON `\\u` escape, so a line is inert when printed."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.core.safe_text import CONTROLS, INVISIBLE

_UNSAFE = re.compile(f"{CONTROLS.pattern}|{INVISIBLE.pattern}")


def inert_json(obj: Any) -> str:
    """`obj` as one line of JSON, non-ASCII text as itself but every control or invisible
    character (and lone surrogate) as a `\\u` escape: the same data, inert on a terminal."""
    return _UNSAFE.sub(_json_escape, json.dumps(obj, ensure_ascii=False))


def _json_escape(match: re.Match[str]) -> str:
    return json.dumps(match.group())[1:-1]  # ASCII-only: `\\u` escapes, surrogate pairs
