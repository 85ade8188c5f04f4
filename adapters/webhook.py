"""The signed JSON webhook: `webhook:<name>` channels, one HTTPS POST per alert or
digest to the URL in `WIREWATCH_WEBHOOK_<NAME>`, signed with the shared secret in
`WIREWATCH_WEBHOOK_<NAME>_SECRET` (each also `..._FILE`).

The body is `body()`'s JSON (version 1, docs/webhooks.md). Its `id` is the same on
every attempt at one delivery with the same content: the delivery's row id and a hash
of the body, so a receiver that keeps the ids it has seen can drop a repeat (a digest
rebuilt with the same stories included), and a new database's row 1 is not taken for
an old one's. Each
attempt is signed anew: `X-Wirewatch-Timestamp` (Unix seconds) and
`X-Wirewatch-Signature: v1=<hex HMAC-SHA256 of "<timestamp>." + body>`.

A 2xx answer is success; 429, 5xx, 408, timeouts and connection errors are retried
(honouring Retry-After, clamped to RETRY_AFTER_MAX); a redirect or any other 4xx is
permanent. Redirects are not followed: the signed body goes only where it was sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

import aiohttp

from bot.chat.adapter import PartSent, SendOnly
from bot.chat.message import Message, Tone
from bot.chat.webhooks import webhook_url
from bot.core.channels import ChannelRef
from bot.core.environment import signed_webhook_problem, signing_secret
from bot.core.errors import DeliveryError
from bot.core.safe_text import without_controls

VERSION = 1
TIMEOUT = 30.0  # seconds for one POST, connection and answer included
RETRY_AFTER_MAX = 3600.0  # a longer Retry-After is taken as this
USER_AGENT = "wirewatch-webhook/1"
ANSWER_LIMIT = 64 * 1024  # bytes of a receiver's answer read at most (it means nothing to us)


def body(message: Message, nonce: str) -> bytes:
    """The JSON body of `message` (UTF-8, keys in a fixed order), its `id` built from the
    delivery's part of `nonce` (`ww<row id>`, without a digest's window) and the rest of
    the body, so that it is the same on every attempt with the same content."""
    content = _content(message)
    digest = hashlib.sha256(_dumps(content)).hexdigest()[:16]
    kind = content.pop("kind")
    delivery = nonce.split("-", 1)[0]
    return _dumps({"version": VERSION, "kind": kind, "id": f"{delivery}-{digest}", **content})


def signature(secret: str, timestamp: str, payload: bytes) -> str:
    """The `X-Wirewatch-Signature` value: `v1=` and the hex HMAC-SHA256 of
    `<timestamp>.<body>` under `secret`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _content(message: Message) -> dict[str, Any]:
    """Everything of the body but its version and id: the kind, the title and text,
    the watchlists (sections), and the stories, each once with every match."""
    watchlists: list[dict[str, Any]] = []
    stories: dict[tuple[str, str | None], dict[str, Any]] = {}
    for section in message.sections:
        ids = {entry.watchlist for entry in section.entries}
        watchlists.append(
            {
                "id": ids.pop() if len(ids) == 1 else None,
                "title": _text(section.heading),
                "more": section.more,
            }
        )
        for entry in section.entries:
            story = stories.setdefault(
                (entry.title, entry.url),
                {
                    "title": _text(entry.title),
                    "url": entry.url,
                    "source": _text(entry.source),
                    "published": entry.published.astimezone(UTC).isoformat()
                    if entry.published
                    else None,
                    "also": [_text(outlet) for outlet in entry.also],
                    "matches": [],
                },
            )
            story["matches"].append(
                {
                    "watchlist": entry.watchlist,
                    "title": _text(section.heading),
                    "score": entry.score,
                    "evidence": [_text(e) for e in entry.evidence],
                }
            )
    return {
        "kind": "alert" if message.tone is Tone.ALERT else "digest",
        "title": _text(message.title),
        "text": _text(message.text),
        "timezone": message.timezone,
        "watchlists": watchlists,
        "stories": list(stories.values()),
    }


def _text(value: str) -> str:
    """Feed text without control or invisible characters (line breaks kept)."""
    return without_controls(value.replace("\r\n", "\n"), keep_newlines=True)


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class WebhookAdapter(SendOnly):
    """Implements bot.chat.adapter.Adapter for signed JSON webhooks (`webhook:<name>`)."""

    platform = "webhook"
    min_interval = 0.0  # a receiver is one's own; `delivery.pacing` can slow it down

    def __init__(self, timeout: float = TIMEOUT, clock: Callable[[], float] = time.time) -> None:
        self.timeout = timeout
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def send(
        self,
        channel: ChannelRef,
        message: Message,
        nonce: str,
        skip: int = 0,
        on_part: PartSent | None = None,
    ) -> str:
        """POST `message` as one signed JSON body; return its id. (One part always, so
        `skip` is 0 and `on_part` is never called.)"""
        url = webhook_url(channel)
        if problem := signed_webhook_problem(channel, url):
            raise DeliveryError(f"{channel}: {problem}", retryable=False)
        secret = signing_secret(channel)
        assert secret is not None  # signed_webhook_problem says when it is not
        payload = body(message, nonce)
        key = str(json.loads(payload)["id"])
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Wirewatch-Id": key,
            "X-Wirewatch-Timestamp": timestamp,
            "X-Wirewatch-Signature": signature(secret, timestamp, payload),
        }
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.post(
                url, data=payload, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                await response.content.read(ANSWER_LIMIT)  # the answer's start; the rest unread
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(
                f"{channel}: webhook unreachable ({type(exc).__name__})", retryable=True
            ) from exc
        if 200 <= status < 300:
            return key
        raise _status_error(channel, status, retry_after)

    async def check_connection(self) -> str | None:
        """Always None: there is no connection to keep."""
        return None

    async def close(self) -> None:
        """Close the HTTP session; safe to call twice."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _status_error(channel: ChannelRef, status: int, retry_after: str | None) -> DeliveryError:
    """The error for a non-2xx answer: 408, 429 and 5xx retryable, the rest permanent."""
    if status in (408, 429) or status >= 500:
        return DeliveryError(
            f"{channel}: webhook answered HTTP {status}",
            retryable=True,
            retry_after=_seconds(retry_after) if status in (429, 503) else None,
        )
    if 300 <= status < 400:
        return DeliveryError(
            f"{channel}: webhook answered with a redirect (HTTP {status}); set the URL it "
            "redirects to",
            retryable=False,
        )
    return DeliveryError(f"{channel}: webhook refused the POST (HTTP {status})", retryable=False)


def _seconds(value: str | None) -> float | None:
    """A Retry-After in seconds, clamped to [0, RETRY_AFTER_MAX]; None when it is absent
    or not a number of seconds."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)
