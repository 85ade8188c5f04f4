"""The apprise adapter: `apprise:<name>` channels, each an apprise URL (Telegram, Matrix,
Microsoft Teams, Mattermost, ntfy, email over SMTP and a hundred more) read from
`WIREWATCH_APPRISE_<NAME>` (or `..._FILE`).

A message is rendered for the body format the service takes (`adapters.apprise_render`:
Markdown where the service takes it, else the service's own format), within the sizes
apprise reports for it (`body_maxlen`, `title_maxlen`), one notification per part.
apprise is synchronous, so each part is sent in a thread, given `timeout` seconds.

apprise says only whether a notification went out, not why not, so every failure is
retryable (until `retry_for`); a URL apprise cannot use is permanent. The URL is a
secret: it is never logged or put in an error, and apprise's own logger (which names
URLs, some with their tokens) is kept from the bot's log entirely.
"""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import Future, ThreadPoolExecutor

import apprise
from apprise import NotifyFormat, NotifyType

from adapters.apprise_render import Format, Limits, Notification, render
from bot.chat.adapter import PartSent, SendOnly, post_parts
from bot.chat.message import Message, Tone
from bot.chat.webhooks import webhook_url
from bot.core.channels import ChannelRef
from bot.core.environment import read_secret
from bot.core.errors import DeliveryError

# apprise logs the URLs it loads and posts to; some carry a token (ntfy topics, Telegram
# bots). Its records stay with apprise: none reaches the bot's handlers at any level.
_APPRISE_LOG = logging.getLogger("apprise")
_APPRISE_LOG.propagate = False
_APPRISE_LOG.disabled = True  # and no record made at all: a capture of every logger sees none
_APPRISE_LOG.addHandler(logging.NullHandler())

DEFAULT_TIMEOUT = 60.0  # seconds for one notification, connection and answer included
POOL_THREADS = 4  # apprise calls at once, across channels
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]{0,20})://")
_FORMATS: dict[str, Format] = {
    NotifyFormat.MARKDOWN.value: "markdown",
    NotifyFormat.HTML.value: "html",
    NotifyFormat.TEXT.value: "text",
}
_TYPES = {Tone.WARNING: NotifyType.WARNING, Tone.ERROR: NotifyType.FAILURE}


def load(url: str) -> apprise.plugins.NotifyBase | None:
    """The apprise service for `url` (parsed and set up, nothing sent), or None when
    apprise cannot use it (unknown scheme, a part missing or malformed)."""
    return apprise.Apprise.instantiate(url, asset=apprise.AppriseAsset(secure_logging=True))


def url_problem(channel: ChannelRef) -> str | None:
    """Why apprise cannot use the URL of `channel`, naming its variable and showing at
    most the URL's scheme, or None (also when the variable is unset: that is
    `webhook_problem`'s to say). Raises ConfigError when the variable is unreadable."""
    name = channel.webhook_env()
    assert name is not None
    url = read_secret(name)
    if not url or load(url) is not None:
        return None
    scheme = _SCHEME.match(url)
    shown = f" (it starts {scheme.group(0)})" if scheme else " (it has no scheme://)"
    return (
        f"{name} holds a URL that apprise cannot use{shown}: an unknown service, or a part "
        "of it missing or malformed; see the service's page in apprise's wiki"
    )


def target_of(service: apprise.plugins.NotifyBase) -> tuple[Format, Limits]:
    """The body format to render for `service` (Markdown if it takes it, else its own),
    and its sizes."""
    resolved = service.resolve_format(NotifyFormat.MARKDOWN)
    fmt = _FORMATS.get(getattr(resolved, "value", str(resolved)), "text")
    body = int(service.body_maxlen)
    if body <= 0:
        body = 32768
    title = int(service.title_maxlen)
    if title > 0 and service.overflow_amalgamate_title:  # apprise counts it in the body
        body -= title + int(service.overflow_buffer) + 10
    return fmt, Limits(body=body, title=title)


class AppriseAdapter(SendOnly):
    """Implements bot.chat.adapter.Adapter for `apprise:<name>` channels."""

    platform = "apprise"
    min_interval = 1.0  # a second between messages to one service, unless `delivery.pacing`

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        # apprise blocks, and a call that outlives its timeout cannot be stopped: its
        # threads are its own, not the event loop's (which resolves names and parses
        # feeds), and a channel starts no call while its last one still runs
        self._pool = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="apprise")
        self._running: dict[str, Future[bool]] = {}

    async def send(
        self,
        channel: ChannelRef,
        message: Message,
        nonce: str,
        skip: int = 0,
        on_part: PartSent | None = None,
    ) -> str:
        """Send `message` as one notification per part from part `skip` on; return
        `apprise-<nonce>-<parts>` (apprise gives no message id)."""
        url = webhook_url(channel)
        service = load(url)
        if service is None:
            raise DeliveryError(
                f"{channel}: {channel.webhook_env()} holds a URL that apprise cannot use",
                retryable=False,
            )
        fmt, limits = target_of(service)
        parts = render(message, fmt, limits)
        kind = _TYPES.get(message.tone, NotifyType.INFO)

        async def post(n: int, part: Notification) -> str:
            fresh = service if n == skip + 1 else load(url)  # a new one: no throttle wait
            assert fresh is not None
            await self._notify(channel, fresh, part, fmt, kind, n, len(parts))
            return f"apprise-{nonce}-{len(parts)}"

        return await post_parts(parts, skip, post, on_part)

    async def _notify(
        self,
        channel: ChannelRef,
        service: apprise.plugins.NotifyBase,
        part: Notification,
        fmt: Format,
        kind: NotifyType,
        n: int,
        count: int,
    ) -> None:
        """Send one notification in a thread; a DeliveryError (retryable) unless it went."""
        which = f" (part {n} of {count})" if count > 1 else ""
        key = str(channel)
        if (last := self._running.get(key)) is not None and not last.done():
            raise DeliveryError(
                f"{channel}: {service.service_name} has not yet answered the last "
                "notification; this one waits",
                retryable=True,
            )
        call = self._pool.submit(
            service.notify,
            body=part.body,
            title=part.title,
            notify_type=kind,
            body_format=NotifyFormat(fmt),
        )
        self._running[key] = call
        try:
            sent = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(call)), self.timeout)
        except TimeoutError as exc:
            raise DeliveryError(
                f"{channel}: {service.service_name} did not answer within "
                f"{self.timeout:g} s{which}",
                retryable=True,
            ) from exc
        except Exception as exc:  # apprise's plugins catch their own; one that did not
            raise DeliveryError(
                f"{channel}: {service.service_name} failed{which}: {type(exc).__name__}",
                retryable=True,
            ) from exc
        if not sent:
            raise DeliveryError(
                f"{channel}: {service.service_name} did not take the notification{which} "
                "(apprise gives no reason)",
                retryable=True,
            )

    async def check_connection(self) -> str | None:
        """Always None: there is no connection to keep."""
        return None

    async def close(self) -> None:
        """Let go of apprise's threads; a call still running ends on its own."""
        self._pool.shutdown(wait=False, cancel_futures=True)
