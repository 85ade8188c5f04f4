"""Why a fetch failed, in our words: what happened, to which host, and the setting that
governs it, instead of the HTTP library's text (`ssl:default`, `ConnectionKey(...)`,
byte counts without a name)."""

from __future__ import annotations

import os
import ssl

import aiohttp

from bot.core.safe_text import one_line


def describe_client_error(exc: BaseException) -> str:
    """One line saying why a request failed, naming the host and what to check."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot find the host {exc.host} (DNS): check the URL, or the network and proxy"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"{exc.host} sent a TLS certificate this machine does not trust"
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        return f"the TLS handshake with {exc.host} failed: {_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return f"cannot connect to the proxy: {_reason(exc.os_error)} (check HTTPS_PROXY)"
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return f"the proxy refused the request: HTTP {exc.status} (check HTTPS_PROXY)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host} port {exc.port}: {_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection before it answered"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the response body was cut off or malformed"
    if isinstance(exc, aiohttp.InvalidUrlClientError | aiohttp.NonHttpUrlClientError):
        return f"not an http(s) URL: {one_line(str(exc))[:200]}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}: {one_line(exc.message)[:200]}"
    if isinstance(exc, UnicodeError):
        return "the URL's host name is not valid (IDNA)"
    text = one_line(str(exc)) or type(exc).__name__
    return text[:300]


def too_large(max_bytes: int) -> str:
    """The error for a body over the size cap, naming the setting."""
    return f"the feed is larger than poll.max_bytes ({_size(max_bytes)})"


def timed_out(what: str, seconds: float, setting: str) -> str:
    """The error for a timeout, naming the setting that governs it."""
    return f"timed out: {what} {seconds:g} s (poll.{setting})"


def _reason(error: OSError | None) -> str:
    if isinstance(error, ssl.SSLError):
        return one_line(error.reason or str(error))
    if error is None:
        return "no reason given"
    if error.errno:  # asyncio's own text ("Connect call failed (...)") says less
        return os.strerror(error.errno).lower()
    return one_line(error.strerror or str(error) or type(error).__name__).lower()


def _size(n: int) -> str:
    for unit, size in (("MiB", 1024**2), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} bytes"
