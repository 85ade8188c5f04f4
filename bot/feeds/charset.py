"""A feed body's real charset when its declaration is wrong: the body made readable, and
what was wrong said in our words.

The declaration is the XML declaration's `encoding`, else the charset of the response's
Content-Type, else none (UTF-8). A body that is valid UTF-8 is read as UTF-8 whatever
it declares: text in another charset with bytes over 127 is almost never valid UTF-8 by
chance, while UTF-8 read as Latin-1 or Shift_JIS turns silently into mojibake. A body
that is not valid UTF-8 and declares UTF-8 (or nothing) has its stray bytes read as
Windows-1252, the usual culprit, and the rest as UTF-8. A body in a charset its XML
declaration names correctly is left to feedparser, as before.
"""

from __future__ import annotations

import codecs
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)""")
_CHARSET_PARAMETER = re.compile(r""";\s*charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.I)
_AS_UTF8 = frozenset({"utf-8", "utf-8-sig", "ascii"})  # codec names whose text reads right as UTF-8
_WIDE = frozenset({"utf-16", "utf-16-be", "utf-16-le", "utf-32", "utf-32-be", "utf-32-le"})
_FALLBACK = "wirewatch-windows-1252"
# each byte as Windows-1252 reads it; the five it leaves undefined as Latin-1 (C1
# controls, which the plain-text clean-up removes)
_WINDOWS_1252 = tuple(
    bytes([b]).decode("cp1252", errors="replace").replace("\ufffd", chr(b)) for b in range(256)
)
_fallbacks = threading.local()  # bytes read as Windows-1252 by this thread's last decode


@dataclass(frozen=True, slots=True)
class ReadableBody:
    """A body to hand to the parsers; `utf8` when it is now ASCII or valid UTF-8 (and
    declares so, or nothing), `warning` when its declaration was wrong."""

    body: bytes
    utf8: bool
    warning: str | None = None


def content_type_charset(content_type: str | None) -> str | None:
    """The `charset` parameter of a Content-Type header, if any."""
    if not content_type:
        return None
    found = _CHARSET_PARAMETER.search(content_type)
    return found.group(1) if found else None


def readable_body(body: bytes, http_charset: str | None = None) -> ReadableBody:
    """`body` as UTF-8 the parsers read right, when its declared charset is wrong (see
    the module's docstring); an ordinary UTF-8 body comes back as it is, checked once."""
    if body.isascii():
        return ReadableBody(body, True)
    if body[:2] in (b"\xfe\xff", b"\xff\xfe") or b"\x00" in body[:4]:
        return ReadableBody(body, False)  # UTF-16 or UTF-32: feedparser's
    in_xml = DECLARED_ENCODING.match(body)
    declared = in_xml.group(1).decode("ascii") if in_xml else http_charset
    codec = _codec(declared)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if declared is None or codec in _AS_UTF8:
            return ReadableBody(body, True)
        said = _said(declared, bool(in_xml))
        return ReadableBody(_declared_utf8(body), True, f"{said} but is UTF-8; read as UTF-8")
    if codec in _WIDE or (in_xml and codec not in _AS_UTF8):
        return ReadableBody(body, False)  # feedparser reads it as declared, or says why not
    if codec is not None and codec not in _AS_UTF8:
        # a charset named only by the Content-Type, which feedparser never sees; Latin-1
        # read as Windows-1252, as browsers do (its curly quotes are Latin-1's controls)
        name, errors = ("cp1252", _FALLBACK) if codec == "iso8859-1" else (codec, "strict")
        _fallbacks.count = 0
        try:
            text = body.decode(name, errors)
        except (UnicodeError, LookupError):
            pass  # a multi-byte charset these bytes are not, or not a text codec at all
        else:
            return ReadableBody(text.encode(), True)
    _fallbacks.count = 0
    text = body.decode("utf-8", errors=_FALLBACK)
    said = _said(declared, bool(in_xml))
    stray = f"{_fallbacks.count:,} bytes are" if _fallbacks.count > 1 else "1 byte is"
    if declared is None:
        warning = f"no charset declared, and {stray} not UTF-8; read those as Windows-1252"
    elif codec in _AS_UTF8:
        warning = f"{said} but {stray} not UTF-8; read those as Windows-1252"
    else:
        warning = (
            f"{said} but is not {declared}; {stray} not UTF-8 either: read those as Windows-1252"
        )
    return ReadableBody(_declared_utf8(text.encode()), True, warning)


def _said(declared: str | None, in_xml: bool) -> str:
    return f"declared {declared}" + ("" if in_xml else " in its Content-Type")


@lru_cache(maxsize=256)
def _codec(name: str | None) -> str | None:
    """Python's name for a declared charset; None when none is declared or it is unknown."""
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _declared_utf8(body: bytes) -> bytes:
    """`body` with its XML declaration's encoding (if any, and not UTF-8) made `utf-8`."""
    found = DECLARED_ENCODING.match(body)
    if found is None or _codec(found.group(1).decode("ascii")) == "utf-8":
        return body
    return body[: found.start(1)] + b"utf-8" + body[found.end(1) :]


def _as_windows_1252(error: UnicodeError) -> tuple[str, int]:
    """The decode error handler: bytes that are not UTF-8, read as Windows-1252."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    stray = error.object[error.start : error.end]
    _fallbacks.count += len(stray)
    return "".join(_WINDOWS_1252[b] for b in stray), error.end


codecs.register_error(_FALLBACK, _as_windows_1252)
