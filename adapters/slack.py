"""The Slack adapter: alerts and digests as Block Kit messages, and the `/news` command,
on the real slack-bolt `AsyncApp` and slack-sdk `AsyncWebClient`.

Socket Mode by default (no public URL needed: a bot token and an app-level token);
HTTP mode when a signing secret is set and Socket Mode is off, serving Slack's
requests at `/slack/events` on the bot's web port with signature verification on.
`slack-webhook:<name>` channels post through an incoming webhook, with no app at all.

Feed text is untrusted and is shown as written. Control and invisible characters go
first (`bot.core.safe_text`). Where we add no formatting (the header, the summary, an
entry's source, time, score, evidence and other outlets, the footer, a URL too long to
link) the text goes in `plain_text` objects, which Slack shows literally: no mrkdwn, no
mention, no link, no `:emoji:` code (`emoji: false`). Where our own formatting needs
mrkdwn (an entry's bold linked title, a section's bold heading, and the notification
text) feed text is made inert by `escape`, since mrkdwn has no escape character:

- `&`, `<`, `>` become entities, so no `<!channel>`, `<@U…>`, `<!subteam^…>`, `<!date…>`
  or disguised link comes out of a headline;
- the markers `*`, `_`, `~` and backtick, and their fullwidth forms (U+FF0A, U+FF3F,
  U+FF5E, U+FF40) that Slack reads as markers too, become look-alikes that mean nothing
  to it (`LOOK_ALIKES`), so no bold, italic, strike, code span or code block;
- the colon that opens an `:emoji:` code becomes U+2236 RATIO, a leading `>` (a quote)
  becomes U+02C3 MODIFIER LETTER RIGHT ARROWHEAD, and `@everyone`, `@here`, `@channel`
  get U+FF20 FULLWIDTH COMMERCIAL AT.

Every mrkdwn object is also `verbatim` (Slack links and mentions nothing by itself);
there is no `link_names` and no `parse=full`.

Look-alikes, because the other known ways are worse: a zero-width character between the
markers is invisible text, which no message may carry; fullwidth forms are markers
themselves; the date token whose fallback Slack shows as plain text
(`<!date^0^{_}|*>`) leans on undocumented behaviour and does not work inside a link's
label, which is where a headline goes. The look-alikes are punctuation, not letters,
and only ever stand in a title's or heading's text, never in a link's target, so they
cannot disguise where a link leads.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack_gate import (
    MAX_BODY_BYTES,
    RecentDeliveries,
    delivery_keys,
    read_body,
    signature_problem,
)
from bot.chat.adapter import PartSent, post_parts, single_part
from bot.chat.commands import Caller, CommandCore
from bot.chat.message import Entry, Message, Tone
from bot.chat.webhooks import webhook_url
from bot.core.channels import ChannelRef
from bot.core.clock import format_time
from bot.core.environment import SlackSettings
from bot.core.errors import DeliveryError
from bot.core.safe_text import one_line, without_controls

log = logging.getLogger(__name__)

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
CONTEXT_LIMIT = 2000  # per context element
TEXT_LIMIT = 3000  # the notification fallback `text`
COMMAND = "/news"
ADMIN_CACHE_SECONDS = 300.0  # how long a user's admin status is trusted before asking again
LINK_LIMIT = 1900  # a longer URL is shown in the context line, not linked from the title
# The bot scopes the adapter's Web API calls need (slack-app-manifest.yaml grants them).
SCOPES = frozenset({"chat:write", "commands", "users:read", "usergroups:read"})
# Errors that no retry can fix: the channel or the app's access to it is gone.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found", "not_in_channel", "is_archived", "channel_is_archived",
        "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
        "missing_scope", "no_permission", "restricted_action", "team_access_not_granted",
        "no_service", "no_team", "team_disabled", "action_prohibited",
        "posting_to_general_channel_denied",
    }
)  # fmt: skip
# chat.update errors that say the message is gone or can no longer be edited
MESSAGE_GONE = frozenset(
    {"message_not_found", "cant_update_message", "edit_window_closed", "thread_not_found"}
)
_TONE_EMOJI = {  # characters, not `:codes:`: they open a plain_text summary
    Tone.ALERT: "\U0001f6a8",
    Tone.DIGEST: "\U0001f4f0",
    Tone.INFO: "\u2139\ufe0f",
    Tone.WARNING: "\u26a0\ufe0f",
    Tone.ERROR: "\u274c",
}
# mrkdwn's formatting markers → characters that look alike and mean nothing to Slack
LOOK_ALIKES = {
    "*": "\u2217",  # asterisk operator
    "_": "\u02cd",  # modifier letter low macron
    "~": "\u223c",  # tilde operator
    "`": "\u02cb",  # modifier letter grave accent
    "\uff0a": "\ufe61",  # fullwidth asterisk: small asterisk
    "\uff3f": "\u02cd",  # fullwidth low line: modifier letter low macron
    "\uff5e": "\u223c",  # fullwidth tilde: tilde operator
    "\uff40": "\u02cb",  # fullwidth grave accent: modifier letter grave accent
}
_MARKERS = str.maketrans(LOOK_ALIKES)
_EMOJI_CODE = re.compile(r":(?=[^\s:]+:)")  # the colon that opens `:name:`
_BROADCAST = re.compile("@(?=everyone|here|channel)", re.IGNORECASE)
_QUOTE = re.compile("^[>\uff1e]")  # `>` or its fullwidth form starting a line


class SlackAdapter:
    """Implements bot.chat.adapter.Adapter for Slack (bot and incoming-webhook channels)."""

    platform = "slack"
    min_interval = 1.0  # Slack: about one message per second per channel

    def __init__(self, settings: SlackSettings) -> None:
        self.settings = settings
        self.client: AsyncWebClient | None = None
        self.app: AsyncApp | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._commands: CommandCore | None = None
        self._admin_cache: dict[str, tuple[bool, float]] = {}  # user → (admin, checked at)
        self._tasks: set[asyncio.Task[None]] = set()
        self._delivered = RecentDeliveries()  # HTTP mode: signed requests already acted on
        if settings.bot_token:
            self.client = AsyncWebClient(
                token=settings.bot_token,
                base_url=settings.api_url,
                retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
            )

    async def start(self, commands: CommandCore, *, gateway: bool = True) -> None:
        """Check the bot token and build the Bolt app with `/news`; with `gateway`, connect
        Socket Mode if that is the mode (`open_gateway`)."""
        if self.client is None:
            return  # webhooks only: nothing to connect, no commands
        self._commands = commands
        try:
            await self._connect()
            if gateway:
                await self.open_gateway()
        except SlackApiError as exc:
            raise _delivery_error(exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Slack unreachable: {exc!r}", retryable=True) from exc

    async def open_gateway(self) -> None:
        """Connect Socket Mode (once), if that is the mode; HTTP mode has no connection."""
        if self.app is None or not self.settings.socket_mode or self._socket is not None:
            return
        socket = AsyncSocketModeHandler(self.app, self.settings.app_token)
        await socket.connect_async()  # type: ignore[no-untyped-call]
        self._socket = socket  # only once connected: a failed attempt is made again

    async def _connect(self) -> None:
        """Check the bot token (`auth.test`) and build the app."""
        assert self.client is not None
        await self.client.auth_test()
        s = self.settings
        if not s.socket_mode and not s.signing_secret:
            raise DeliveryError(
                "Slack HTTP mode needs WIREWATCH_SLACK_SIGNING_SECRET", retryable=False
            )
        if s.socket_mode and not s.app_token:
            raise DeliveryError(
                "Slack Socket Mode needs WIREWATCH_SLACK_APP_TOKEN (an xapp- token with "
                "connections:write), or set WIREWATCH_SLACK_SOCKET_MODE=false for HTTP mode",
                retryable=False,
            )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=s.signing_secret or "socket-mode-has-no-signatures",
            request_verification_enabled=not s.socket_mode,
        )
        self.app.command(COMMAND)(self._on_news)

    def routes(self) -> list[web.RouteDef]:
        """The web server routes this adapter serves: `/slack/events` in HTTP mode."""
        if self.app is None or self.settings.socket_mode:
            return []
        return [web.post("/slack/events", self._handle_http)]

    async def send(
        self,
        channel: ChannelRef,
        message: Message,
        nonce: str,
        skip: int = 0,
        on_part: PartSent | None = None,
    ) -> str:
        """Post `message` (split over several messages when long) from part `skip` on;
        return the last ts."""
        payloads = render(message)
        if channel.platform == "slack-webhook":
            return await self._send_webhook(channel, payloads, nonce, skip, on_part)
        client = self.client
        if client is None:
            raise DeliveryError(
                f"{channel}: no Slack bot token (WIREWATCH_SLACK_BOT_TOKEN)", retryable=False
            )

        async def post(_n: int, payload: dict[str, Any]) -> str:
            try:
                response = await client.chat_postMessage(
                    channel=channel.target, unfurl_links=False, unfurl_media=False, **payload
                )
            except SlackApiError as exc:
                raise _delivery_error(exc) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DeliveryError(f"Slack unreachable: {exc!r}", retryable=True) from exc
            return str(response.get("ts") or "")

        return await post_parts(payloads, skip, post, on_part)

    # --- follow-ups (bot.chat.adapter.GrowingAdapter) ---------------------------------

    async def edit(self, channel: ChannelRef, message_id: str, message: Message) -> None:
        """Replace posted message `message_id` (its ts) with `message` (`chat.update`); a
        message deleted or no longer editable is not retryable. Never posts."""
        client = self._followup_client(channel)
        payload = single_part(channel, render(message))
        try:
            await client.chat_update(channel=channel.target, ts=message_id, **payload)
        except SlackApiError as exc:
            raise _followup_error(exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Slack unreachable: {exc!r}", retryable=True) from exc

    async def open_thread(self, channel: ChannelRef, message_id: str, name: str) -> str:
        """A Slack thread is the message's own ts: nothing to start."""
        self._followup_client(channel)
        return message_id

    async def reply(
        self, channel: ChannelRef, message_id: str, thread_id: str, message: Message, nonce: str
    ) -> str:
        """Post `message` in the thread of `thread_id` (`chat.postMessage` with
        `thread_ts`, not broadcast to the channel); return its ts."""
        client = self._followup_client(channel)
        payload = single_part(channel, render(message))
        try:
            response = await client.chat_postMessage(
                channel=channel.target, thread_ts=thread_id, unfurl_links=False,
                unfurl_media=False, **payload,
            )  # fmt: skip
        except SlackApiError as exc:
            raise _followup_error(exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Slack unreachable: {exc!r}", retryable=True) from exc
        return str(response.get("ts") or "")

    def _followup_client(self, channel: ChannelRef) -> AsyncWebClient:
        if channel.platform != "slack" or self.client is None:
            raise DeliveryError(
                f"{channel}: editing and threads need the Slack app (WIREWATCH_SLACK_BOT_TOKEN)",
                retryable=False,
            )
        return self.client

    async def check_connection(self) -> str | None:
        """None when the app runs (and, in Socket Mode, its WebSocket is up); webhooks
        alone need no connection."""
        if self.client is None:
            return None
        if self.app is None:
            return "Slack app not started"
        if not self.settings.socket_mode or self._socket is None:
            return None  # HTTP mode, or another worker holds the Socket Mode connection
        if not await self._socket.client.is_connected():
            return "Slack Socket Mode disconnected (reconnecting)"
        return None

    async def close(self) -> None:
        """Disconnect Socket Mode and release the HTTP sessions; safe to call twice."""
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close_async()  # type: ignore[no-untyped-call]
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- /news -------------------------------------------------------------------------

    async def _handle_http(self, request: web.Request) -> web.Response:
        """Slack's request, checked before anything parses it: 413 for a body over
        `MAX_BODY_BYTES` (not read past it), 401 unless signed within five minutes,
        200 without acting on a delivery already seen; only then bolt's answer."""
        assert self.app is not None and self.settings.signing_secret
        body = await read_body(request)
        if body is None:
            log.warning(
                "refused a Slack request from %s: body over %d bytes (Content-Length %s)",
                request.remote, MAX_BODY_BYTES, request.content_length,
            )  # fmt: skip
            response = web.json_response({"error": "request too large"}, status=413)
            response.force_close()  # the rest of the body is not read
            return response
        signature = request.headers.get("X-Slack-Signature")
        problem = signature_problem(
            self.settings.signing_secret,
            request.headers.get("X-Slack-Request-Timestamp"),
            signature,
            body,
            time.time(),
        )
        if problem is not None or signature is None:
            log.warning(
                "refused a Slack request from %s (%d bytes): %s", request.remote, len(body), problem
            )
            return web.json_response({"error": "invalid request"}, status=401)
        if not self._delivered.first_time(delivery_keys(signature, body)):
            retry = request.headers.get("X-Slack-Retry-Num", "")
            log.info(
                "ignored a repeat of a Slack request already acted on%s",
                f" (Slack's retry {retry[:3]!r})" if retry else "",
            )
            return web.Response(status=200, headers={"X-Slack-No-Retry": "1"})
        try:
            bolt_request = AsyncBoltRequest(
                body=body.decode("utf-8"),
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]
            )
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
            log.warning("refused a signed Slack request bolt cannot read (%s)", type(exc).__name__)
            return web.json_response({"error": "unreadable request"}, status=400)
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    async def _on_news(
        self, ack: AsyncAck, respond: AsyncRespond | None, command: dict[str, Any]
    ) -> None:
        """Ack at once (Slack's 3-second deadline), then answer through `respond` in a
        task of our own (awaited or cancelled by `close`)."""
        await ack()
        task = asyncio.create_task(self._answer(respond, command))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, respond: AsyncRespond | None, command: dict[str, Any]) -> None:
        """Run the command and post its answer to the command's `response_url`; every
        failure is logged here, none is left in the task."""
        try:
            await self._run_and_respond(respond, command)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("internal error answering %s", COMMAND)

    async def _run_and_respond(self, respond: AsyncRespond | None, command: dict[str, Any]) -> None:
        assert self._commands is not None
        user = str(command.get("user_id") or "")
        if respond is None or not _usable_url(command.get("response_url")):
            log.warning(
                "cannot answer %s from %s: the command came without a usable response_url, "
                "so it was not run", COMMAND, one_line(user)[:40],
            )  # fmt: skip
            return

        async def is_admin() -> bool:
            return await self._is_admin(user)

        caller = Caller(f"slack:{command.get('channel_id', '')}", user, is_admin)
        reply = await self._commands.answer_text(caller, str(command.get("text") or ""))
        response_type = "in_channel" if reply.public else "ephemeral"
        for payload in render(reply.message):
            try:
                posted = await respond(
                    response_type=response_type, replace_original=False, **payload
                )
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning(
                    "cannot post the %s answer for %s to its response_url (%s)",
                    COMMAND, one_line(user)[:40], type(exc).__name__,
                )  # fmt: skip
                return
            if posted.status_code != 200:
                log.warning(
                    "Slack refused the %s answer for %s: HTTP %d %s", COMMAND,
                    one_line(user)[:40], posted.status_code, one_line(posted.body or "")[:100],
                )  # fmt: skip
                return

    async def _is_admin(self, user: str) -> bool:
        """A configured admin (user or member of a configured user group); with none
        configured, the workspace's admins and owners."""
        cached = self._admin_cache.get(user)
        if cached is not None and time.monotonic() - cached[1] < ADMIN_CACHE_SECONDS:
            return cached[0]
        assert self.client is not None
        admins = self.settings.admins
        try:
            if admins:
                allowed = user in admins
                for group in (a for a in admins if a.startswith("S")):
                    if allowed:
                        break
                    members = await self.client.usergroups_users_list(usergroup=group)
                    allowed = user in (members.get("users") or [])
            else:
                info = await self.client.users_info(user=user)
                profile = info.get("user") or {}
                allowed = bool(profile.get("is_admin") or profile.get("is_owner"))
        except SlackApiError as exc:
            log.warning("cannot tell whether %s is an admin: %s", user, _api_error(exc))
            return False
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("cannot tell whether %s is an admin: %r", user, exc)
            return False
        self._admin_cache[user] = (allowed, time.monotonic())
        return allowed

    async def _send_webhook(
        self,
        channel: ChannelRef,
        payloads: Sequence[dict[str, Any]],
        nonce: str,
        skip: int,
        on_part: PartSent | None,
    ) -> str:
        url = self.settings.webhooks.get(channel.target) or webhook_url(channel)
        hook = AsyncWebhookClient(url)

        async def post(_n: int, payload: dict[str, Any]) -> str:
            try:
                response = await hook.send(**payload, unfurl_links=False, unfurl_media=False)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DeliveryError(f"Slack webhook unreachable: {exc!r}", retryable=True) from exc
            if response.status_code != 200:
                body = (response.body or "").strip()[:200]
                retryable = response.status_code == 429 or response.status_code >= 500
                retry_after = (
                    _retry_after(response.headers) if response.status_code == 429 else None
                )
                raise DeliveryError(
                    f"Slack webhook HTTP {response.status_code}: {body}",
                    retryable=retryable and body not in PERMANENT_ERRORS,
                    retry_after=retry_after,
                )
            return f"webhook-{nonce}"  # a webhook answers "ok", not a message id

        return await post_parts(payloads, skip, post, on_part)


# --- rendering -----------------------------------------------------------------------------


def escape(text: str) -> str:
    """Feed text as one line of inert Slack mrkdwn (see the module docstring): shown as
    written, or as look-alikes, but never as formatting, an emoji, a quote, a mention
    or a link."""
    text = _QUOTE.sub("\u02c3", one_line(text).translate(_MARKERS))
    text = _BROADCAST.sub("\uff20", _EMOJI_CODE.sub("\u2236", text))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(message: Message) -> list[dict[str, Any]]:
    """`chat.postMessage` arguments (`text` and `blocks`), one dict per Slack message:
    ≤50 blocks each, sections ≤3000 characters, header ≤150. A long digest is split
    between entries, never inside one, and each part's fallback text says which it is."""
    header = {"type": "header", "text": _plain_text(one_line(message.title) or "wirewatch",
                                                    HEADER_LIMIT)}  # fmt: skip
    units: list[list[dict[str, Any]]] = [[header]]
    text = without_controls(message.text, keep_newlines=True).strip()
    if text:
        summary = _plain_text(f"{_TONE_EMOJI[message.tone]} {text}", SECTION_LIMIT)
        units.append([{"type": "section", "text": summary}])
    for section in message.sections:
        units.append([_section(f"*{escape(section.heading)}*")])
        units += [_entry_blocks(entry, message.timezone) for entry in section.entries]
        if section.more:
            units.append([_context(f"+{section.more} more")])
    if message.footer:
        units.append([_context(one_line(message.footer))])
    pages: list[list[dict[str, Any]]] = [[]]
    for unit in units:
        if len(pages[-1]) + len(unit) > MAX_BLOCKS:
            pages.append([])
        pages[-1].extend(unit)
    fallback = _cut(escape(message.title) or "wirewatch", TEXT_LIMIT - 10)
    return [
        {"text": fallback if len(pages) == 1 else f"{fallback} ({n}/{len(pages)})", "blocks": page}
        for n, page in enumerate(pages, start=1)
    ]


def _entry_blocks(entry: Entry, timezone: str) -> list[dict[str, Any]]:
    """An entry: its bold linked title (the URL whole, escaped for Slack's link syntax),
    then plain context lines with source, time, score, evidence and the other outlets."""
    title = _cut(escape(entry.title) or "(no title)", 1000)
    target = _link_target(entry.url) if entry.url else ""
    link = f"<{target}|{title}>" if target and len(target) <= LINK_LIMIT else title
    meta = [one_line(entry.source)]
    if entry.published:
        meta.append(format_time(entry.published, timezone))
    meta.append(f"score {entry.score:g}")
    lines = [" · ".join(meta)]
    if entry.evidence:
        lines.append("matched " + one_line("; ".join(entry.evidence)))
    if entry.also:
        lines.append("also: " + one_line(", ".join(entry.also)))
    blocks = [_section(f"• *{link}*"), _context("\n".join(lines))]
    if target and len(target) > LINK_LIMIT:  # in a block of its own (the store keeps URLs
        blocks.append(_context(one_line(entry.url or ""), SECTION_LIMIT))  # ≤ 2,000 bytes)
    return blocks


def _section(mrkdwn: str) -> dict[str, Any]:
    """A section of our mrkdwn (its feed text passed through `escape`), taken verbatim."""
    text = {"type": "mrkdwn", "text": _cut(mrkdwn, SECTION_LIMIT), "verbatim": True}
    return {"type": "section", "text": text}


def _context(text: str, limit: int = CONTEXT_LIMIT) -> dict[str, Any]:
    """A context line of plain text."""
    return {"type": "context", "elements": [_plain_text(text, limit)]}


def _plain_text(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object (shown as written: no markup, mention, link or `:emoji:`)."""
    return {"type": "plain_text", "text": _cut(text, limit), "emoji": False}


def _link_target(url: str) -> str:
    """A URL safe inside `<url|text>`: the characters Slack's syntax uses are
    percent-encoded, nothing is cut."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- errors and secrets ------------------------------------------------------------------


def _api_error(exc: SlackApiError) -> str:
    """Slack's error code (`channel_not_found`), or the HTTP status when the body had none."""
    data = exc.response.data
    error = data.get("error") if isinstance(data, dict) else None
    return str(error or f"HTTP {exc.response.status_code}")


def _delivery_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    error = _api_error(exc)
    status = int(response.status_code)
    if status == 429 or error == "ratelimited":
        return DeliveryError(
            "Slack rate limit (429)", retryable=True, retry_after=_retry_after(response.headers)
        )
    if error in PERMANENT_ERRORS:
        return DeliveryError(f"Slack: {error}", retryable=False)
    return DeliveryError(f"Slack: {error}", retryable=True)


def _followup_error(exc: SlackApiError) -> DeliveryError:
    """As `_delivery_error`, and a message gone or not editable is not retryable."""
    error = _api_error(exc)
    if error in MESSAGE_GONE:
        return DeliveryError(f"Slack: {error}", retryable=False)
    return _delivery_error(exc)


def _usable_url(url: object) -> bool:
    """Whether `url` is an absolute http(s) URL with a host (Slack's response_url is)."""
    if not isinstance(url, str):
        return False
    try:
        parsed = urlsplit(url)
    except ValueError:
        return False
    return parsed.scheme in ("https", "http") and bool(parsed.hostname)


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return float(raw)
            except (TypeError, ValueError):
                return None
    return None
