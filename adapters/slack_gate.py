"""The checks a request to `/slack/events` passes before anything parses it: a body of
at most `MAX_BODY_BYTES` (reading stops there), Slack's `v0` signature of the raw bytes
made within the last five minutes, and a delivery not seen before in that window.

Slack signs `v0:{timestamp}:{body}` with HMAC-SHA256 keyed by the app's signing secret
and sends it as `X-Slack-Signature: v0=<hex>` with `X-Slack-Request-Timestamp`
(https://docs.slack.dev/authentication/verifying-requests-from-slack/).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs

from aiohttp import web

# A slash command is a form of a dozen short fields plus the command's text: well under
# 4 KiB in practice. 64 KiB leaves room for thousands of characters of text and still
# refuses anything that is not a Slack request before it is read.
MAX_BODY_BYTES = 64 * 1024
WINDOW_SECONDS = 300  # Slack's replay window: a timestamp further off is refused
MAX_REMEMBERED = 10_000  # deliveries remembered for the window: ~33 a second for 5 minutes

_TIMESTAMP = re.compile("[0-9]{1,12}")  # whole seconds, ASCII digits only
_SIGNATURE = re.compile("v0=[0-9a-f]{64}")


def signature_problem(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> str | None:
    """None when `signature` is Slack's v0 signature of `body` at `timestamp` and
    `timestamp` is within five minutes of `now`; otherwise why not, in a few fixed words
    (never the values themselves)."""
    if not timestamp:
        return "no X-Slack-Request-Timestamp"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "a malformed X-Slack-Request-Timestamp"
    if abs(now - int(timestamp)) > WINDOW_SECONDS:
        return "a timestamp more than five minutes off"
    if not signature:
        return "no X-Slack-Signature"
    if not _SIGNATURE.fullmatch(signature):
        return "a malformed X-Slack-Signature"
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        return "a wrong signature"
    return None


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The request's body, or None when it is longer than `limit` bytes; no more than
    `limit + 1` bytes are read (none when Content-Length already says too many)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    while len(body) <= limit:
        chunk = await request.content.read(limit + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
    return None


def delivery_keys(signature: str, body: bytes) -> list[str]:
    """What names one delivery of a signed request: its signature, and the `trigger_id`
    of a command or `event_id` of an event when it has one (Slack signs a retry anew,
    so only the id tells a retry from a new request)."""
    keys = [f"signature:{signature}"]
    try:
        text = body.decode("utf-8")
        if text.lstrip().startswith("{"):
            data = json.loads(text)
            ident = data.get("event_id") if isinstance(data, dict) else None
            name = "event_id"
        else:
            ident = next(iter(parse_qs(text).get("trigger_id", [])), None)
            name = "trigger_id"
    except (ValueError, RecursionError):  # signed but unreadable: bolt will refuse it
        return keys
    if isinstance(ident, str) and ident:
        keys.append(f"{name}:{ident[:200]}")
    return keys


class RecentDeliveries:
    """Keys seen in the last `seconds` (at most `limit` of them, the oldest forgotten
    first), so that a replayed or retried delivery is recognised."""

    def __init__(
        self,
        seconds: float = WINDOW_SECONDS,
        limit: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.limit = limit
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # key → when, oldest first

    def __len__(self) -> int:
        return len(self._seen)

    def first_time(self, keys: Iterable[str]) -> bool:
        """True, remembering `keys`, when none of them was seen within the window;
        False, remembering nothing new, when one was."""
        now = self._clock()
        while self._seen:
            oldest, when = next(iter(self._seen.items()))
            if now - when <= self.seconds:
                break
            del self._seen[oldest]
        keys = list(keys)
        if any(key in self._seen for key in keys):
            return False
        for key in keys:
            self._seen[key] = now
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return True
