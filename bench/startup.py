"""Start-up cost of the `wirewatch` command, whole process, against bare Python.

Each command runs ROUNDS times, alternating with `python -c pass` so that both see the
same machine; the figure is the median of the per-round differences (command minus bare
Python) in wall-clock seconds. `health` asks a
loopback server that answers `/readyz` at once; `check` validates the bundled watchlists
and default feeds from an empty folder.

Targets: `--version` and `health` within 0.15 s of bare Python, `check` within 0.6 s.

    python bench/startup.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TARGETS = {"--version": 0.15, "health": 0.15, "check": 0.6}


class Ready(BaseHTTPRequestHandler):
    """Answers every GET as a ready bot's `/readyz` does."""

    def do_GET(self) -> None:
        body = json.dumps({"status": "ready", "checks": {"scheduler": "ok"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def check_runs(command: Sequence[str], cwd: str) -> None:
    """Run `command` once (warming the file cache); stop the benchmark unless it exits 0."""
    proc = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}: {proc.stderr[-500:]!r}")


def timed(command: Sequence[str], cwd: str) -> float:
    """Wall seconds of one run of `command`."""
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/readyz"
    bare = [sys.executable, "-c", "pass"]
    commands = {
        "--version": [sys.executable, "-m", "bot", "--version"],
        "health": [sys.executable, "-m", "bot", "health", "--url", url],
        "check": [sys.executable, "-m", "bot", "check"],
    }
    with tempfile.TemporaryDirectory() as folder:
        for name, command in commands.items():
            check_runs(command, folder)
            gaps, base = [], []
            for _ in range(rounds):
                own = timed(command, folder)
                plain = timed(bare, folder)
                gaps.append(own - plain)
                base.append(plain)
            extra = statistics.median(gaps)
            verdict = "yes" if extra <= TARGETS[name] else "NO"
            print(
                f"{name:10} {extra:+.3f} s over bare Python ({statistics.median(base):.3f} s), "
                f"target +{TARGETS[name]:.2f} s: {verdict}"
            )
    server.shutdown()


if __name__ == "__main__":
    main()
