"""What a feed's stored state says beyond "ok" and "failing": a site that refuses the
bot (401, 403), and a feed that answers but has nothing new (stale).

`wirewatch feeds` and `/news feeds` say both in the same words.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.models import FeedState

REFUSING = (401, 403)  # statuses by which a site refuses the client, not the URL
REFUSED_HINT = "the site refuses this client; set `user_agent` for this feed"
REFUSED_ANYWAY = (
    "the site refuses this client, its own user_agent too: it may refuse this machine's "
    "address (a datacenter's, a VPN's)"
)


def refused_hint(feed: FeedState) -> str | None:
    """What to do about a failing feed whose last answer was 401 or 403, or None."""
    if not feed.consecutive_failures or feed.last_status not in REFUSING:
        return None
    return REFUSED_ANYWAY if feed.user_agent else REFUSED_HINT


def stale_reason(feed: FeedState, now: datetime, stale_after: timedelta) -> str | None:
    """Why a feed that answers is stale, or None: its last body held no item, or its
    newest item was published longer than `stale_after` before `now`. A feed that is
    failing, disabled or never read is not stale (it says so otherwise), nor is one
    whose items carry no date."""
    if feed.consecutive_failures or feed.disabled_reason or feed.last_success_at is None:
        return None
    if feed.last_item_count == 0:
        return "stale: its last body held no item"
    newest = feed.newest_item_at
    if newest is not None and now - newest > stale_after:
        return f"stale: its newest item is {(now - newest).days} days old"
    return None
