"""Secrets from the environment: `NAME`, or the file named by `NAME_FILE` (Docker secrets).

Secrets never come from the config file and are never logged.
"""

from __future__ import annotations

import os
from pathlib import Path


class SecretError(Exception):
    """A secret's file could not be read, or both forms were given."""


def read_secret(name: str) -> str | None:
    """The value of `name` or of the file `name_FILE` names (stripped), else None."""
    value = os.environ.get(name)
    path = os.environ.get(f"{name}_FILE")
    if value and path:
        raise SecretError(f"set {name} or {name}_FILE, not both")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from exc
        if not value:
            raise SecretError(f"{name}_FILE: {path} is empty")
    return value.strip() if value else None
