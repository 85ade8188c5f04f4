"""Canonical URLs: one spelling per article, so that the same story from two feeds is one.

A canonical URL holds no control or invisible character: they are percent-encoded (tabs
and line breaks removed), as a browser reads such a link, so the link still leads where
it led and can neither drive a terminal nor hide part of itself when shown
(`bot.core.safe_text.url_without_controls`). A host with one is no host: no URL.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bot.core.safe_text import url_without_controls

# Query parameters that track the reader, not identify the article.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "piwik_", "matomo_", "hsa_", "_hs")
_TRACKING_NAMES = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "twclid",
        "ocid",
        "cmpid",
        "cmp",
        "ncid",
        "ref_src",
        "ref_url",
        "rss",
        "taid",
        "_ga",
        "_gl",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wt_mc",
        "wt.mc_id",
        "s_cid",
        "__twitter_impression",
        "at_medium",
        "at_campaign",
        "guccounter",
        "spm",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CLEAN = re.compile(r"https?://[a-z0-9.-]+/[^\s:@%]*$")


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """Resolve `url` against `base`, then drop tracking parameters and the fragment.

    Scheme and host are lower-cased, default ports removed, and the remaining query
    parameters keep their order; control and invisible characters are percent-encoded.
    Returns None for anything that is not http(s).
    """
    if not url:
        return None
    url = url_without_controls(url.strip())
    if _CLEAN.match(url) and "?" not in url and "#" not in url:
        return url  # the common case: already absolute, lower-case, nothing to drop
    try:
        if base:
            url = urljoin(base, url)  # raises on a malformed host ("http://[x")
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "%" in parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query, doseq=True), ""))


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)
