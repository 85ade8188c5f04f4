"""Receivers on 127.0.0.1 for apprise's services: one HTTP server taking any path (apprise's
`json://`, `ntfy://` and `mmost://` post to it) and a real SMTP server (aiosmtpd) for
`mailto://`. Each records what it got; the HTTP one answers with scripted statuses."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from loopback import serve


@dataclass
class Request:
    """One request the HTTP receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


@dataclass
class HttpReceiver:
    """Records every request; answers the next scripted status (then 200)."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # added to a scripted answer

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Request(request.path, dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        extra = self.headers if status != 200 else {}
        return web.json_response({"ok": status == 200}, status=status, headers=extra)


@asynccontextmanager
async def http_receiver() -> AsyncIterator[HttpReceiver]:
    """An HttpReceiver serving every path on a free loopback port."""
    receiver = HttpReceiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner, receiver.url = await serve(app)
    try:
        yield receiver
    finally:
        await runner.cleanup()


@dataclass
class Mailbox:
    """The messages the SMTP server accepted."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def texts(self) -> list[str]:
        """Each message's subject and body (its HTML part if it has one)."""
        texts = []
        for message in self.messages:
            part = message.get_body(preferencelist=("html", "plain"))
            assert part is not None
            texts.append(f"{message['Subject']}\n{part.get_content()}")
        return texts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd, no TLS, no auth) on 127.0.0.1."""
    mailbox = Mailbox(port=free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
