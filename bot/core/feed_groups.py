"""The groups the bundled default feeds are sorted into, and what their check concluded.

The bundled list (`bot/feeds/default_feeds.yaml`) gives every entry one of these groups
and statuses; the config's `default_feeds: {exclude: [...]}` names groups from here.
"""

from __future__ import annotations

# group -> what its feeds are; government newsrooms are `government` whatever the country
FEED_GROUPS: dict[str, str] = {
    "canadian-politics": "Canadian news outlets, English and French",
    "japan": "Japanese news outlets, English and Japanese",
    "taiwan": "Taiwanese news outlets",
    "china": "Chinese and Hong Kong news outlets",
    "defence": "regional and defence press",
    "agriculture": "trade and agriculture press",
    "government": "government newsrooms (Canada, Taiwan, Japan, the United States)",
    "news-search": "Google News and Bing News searches for the watchlists' key terms",
}

# confirmed: dated evidence that the URL serves current items (the feed counts as
# verified); likely: several public configs use it and nothing contradicts it; unknown:
# the evidence disagrees or is thin
FEED_STATUSES = ("confirmed", "likely", "unknown")


def unknown_group(name: str) -> str | None:
    """Why `name` is not a bundled feed group, or None when it is one."""
    if name in FEED_GROUPS:
        return None
    return f"unknown feed group {name!r} (the groups: {', '.join(FEED_GROUPS)})"
