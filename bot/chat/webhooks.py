"""Webhook channels' URLs: secrets read from `WIREWATCH_<PLATFORM>_WEBHOOK_<NAME>` (or
`..._FILE`), never written in the config."""

from __future__ import annotations

from bot.core.channels import ChannelRef
from bot.core.environment import read_secret
from bot.core.errors import DeliveryError


def webhook_url(channel: ChannelRef) -> str:
    """The URL of webhook channel `channel`; a permanent DeliveryError naming the variable
    to set when it is missing."""
    name = channel.webhook_env()
    if name is None:
        raise ValueError(f"{channel} is not a webhook channel")
    url = read_secret(name)
    if not url:
        raise DeliveryError(f"{channel}: set {name} (or {name}_FILE) to its URL", retryable=False)
    return url
