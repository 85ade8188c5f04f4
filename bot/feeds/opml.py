"""OPML in and out: feed lists exchanged with other readers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime

from bot.core.errors import UsageError
from bot.core.models import FeedSpec, FeedState

MAX_OPML_BYTES = 5 * 1024 * 1024


class OpmlError(UsageError):
    """The file is not OPML we can read; the message says why."""


def read_opml(data: bytes) -> list[FeedSpec]:
    """Every outline with an http(s) `xmlUrl`, nested folders included, one per URL.

    Python's expat refuses entity expansion attacks and never loads external entities.
    """
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"file is larger than {MAX_OPML_BYTES} bytes")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OpmlError(f"not well-formed XML: {exc}") from exc
    if root.tag.lower() != "opml":
        raise OpmlError(f"root element is <{root.tag}>, not <opml>")
    specs: dict[str, FeedSpec] = {}
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url.lower().startswith(("http://", "https://")):
            continue
        name = (outline.get("title") or outline.get("text") or url).strip()
        specs.setdefault(url, FeedSpec(url=url, name=name, origin="opml"))
    if not specs:
        raise OpmlError("no outline with an http(s) xmlUrl found")
    return list(specs.values())


def write_opml(feeds: Iterable[FeedState], title: str = "wirewatch feeds") -> bytes:
    """OPML 2.0 listing `feeds`, readable by any feed reader."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC), usegmt=True)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        ET.SubElement(body, "outline", type="rss", text=feed.name, title=feed.name, xmlUrl=feed.url)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
