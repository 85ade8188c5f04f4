"""`wirewatch health`: ask a running bot's `/readyz` whether it is ready.

Standard library only: the image's HEALTHCHECK starts this every 30 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from bot.core.safe_text import without_controls
from bot.core.web_settings import WebSettings

PROBE_TIMEOUT = 10.0  # seconds `wirewatch health` waits for the bot's answer


def health(args: argparse.Namespace, web: WebSettings) -> int:
    """Ask the running bot's `/readyz`: exit 0 when ready, 1 otherwise (the image's
    HEALTHCHECK runs this every 30 s, so it loads nothing it does not need)."""
    url: str | None = args.url
    if url is not None and urlsplit(url).path in ("", "/"):  # the bot's address alone
        url = url.rstrip("/") + "/readyz"
    if url is None:
        if web.port is None:
            print(
                "wirewatch: the web server is off, so there is nothing to ask; set web.port "
                "(or WIREWATCH_WEB_PORT) for the running bot, or give --url",
                file=sys.stderr,
            )
            return 1
        url = probe_url(web.host, web.port)
    ready, details = probe(url)
    details = without_controls(details, keep_newlines=True)  # whatever answered at `url`
    print(f"{'ready' if ready else 'not ready'}\n{details}".rstrip())
    return 0 if ready else 1


def probe_url(host: str, port: int) -> str:
    """The `/readyz` URL of a bot listening on `host:port` (a wildcard host is asked on
    the loopback address)."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/readyz"


def probe(url: str) -> tuple[bool, str]:
    """Ask a running bot whether it is ready: (ready, a line per check or the error).
    No proxy is used: the bot is local."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=PROBE_TIMEOUT) as response:
            return True, _describe(response.read())
    except urllib.error.HTTPError as exc:
        return False, _describe(exc.read()) or f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"no answer from {url}: {reason}"


def _describe(body: bytes) -> str:
    try:
        checks = json.loads(body)["checks"]
        return "\n".join(f"{name}: {result}" for name, result in checks.items())
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace")[:500]
