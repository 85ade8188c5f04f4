"""Where a feed added from chat may connect: public addresses only, unless the operator
allows a host or a range (`poll.allow_private`).

The check runs on the address each socket is about to connect to (the connector's
socket factory), so it holds for every redirect hop and whatever a name resolves to at
that moment: DNS rebinding cannot slip a private address past it. A URL whose host is
an address literal, in any spelling `inet_aton` reads (`2130706433`, `0x7f.1`,
`017700000001`), is refused before any request, with the same reasons. An address
inside another (IPv4-mapped IPv6, 6to4, Teredo, NAT64) is judged by the IPv4 address
it carries. Feeds from the operator (config file, OPML, the command line) never meet
this guard.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp.connector import AddrInfoType

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# instance metadata services: AWS/GCP/Azure/OpenStack, AWS over IPv6, AWS ECS task
# metadata, Alibaba Cloud, Oracle Cloud
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200",
              "192.0.0.192")
)  # fmt: skip
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")
REFUSED = "refused to connect to"  # how every refusal starts
UNTRUSTED_ORIGINS = frozenset({"chat"})  # feeds whose every fetch is guarded


class AddressRefused(OSError):
    """The guard refused a connection; the message names the address and why."""


def address_kind(ip: IPAddress) -> str | None:
    """Why `ip` is not a public address ("loopback", "private", "cloud metadata"...),
    or None when it is one."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_kind(embedded[0])
    if ip in METADATA:
        return "cloud metadata"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local):
        return "private"  # site-local fec0::/10, deprecated but routed inside some networks
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host spells, in any form the system's resolver reads as an
    address (dotted, shortened, decimal, octal, hex; IPv6 with or without brackets),
    or None for a name."""
    host = host.strip("[]").split("%", 1)[0].rstrip(".")  # "127.0.0.1." is 127.0.0.1
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


class AddressGuard:
    """Refuses loopback, private, link-local, multicast, unspecified, reserved and cloud
    metadata addresses, except the hosts and ranges in `allowed` (host names, addresses,
    CIDR ranges)."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.networks: list[IPNetwork] = []
        self.hosts: set[str] = set()
        for entry in allowed:
            text = entry.strip().lower()
            try:
                self.networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
            except ValueError:
                self.hosts.add(text.rstrip("."))

    def allows_host(self, host: str) -> bool:
        """Whether `host` is named in the allow list (then anything it resolves to is)."""
        return host.lower().rstrip(".") in self.hosts

    def refusal(self, ip: IPAddress) -> str | None:
        """Why a connection to `ip` is refused, or None when it may go ahead."""
        kind = address_kind(ip)
        embedded = _embedded_ipv4(ip)
        if kind is None or self._allows(ip) or (embedded and self._allows(embedded[0])):
            return None
        article = "an" if kind[0] in "aeiou" else "a"
        inside = f" ({embedded[1]} {embedded[0]})" if embedded else ""
        return f"{REFUSED} {ip}: {article} {kind} address{inside}; see poll.allow_private"

    def _allows(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.networks if net.version == ip.version)

    def url_refusal(self, url: str) -> str | None:
        """Why `url` may not be fetched at all (its scheme, or an address literal the
        guard refuses), or None when it may be requested."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018  # raises ValueError for a port out of range
        except ValueError:
            return "this is not a URL (its host or port cannot be read)"
        if parts.scheme not in ("http", "https"):
            return f"only http and https feeds can be added from chat, not {parts.scheme!r}"
        if not host:
            return "the URL names no host"
        if self.allows_host(host):
            return None
        ip = literal_address(host)
        if ip is None:
            return None  # a name: its addresses are checked as each connection is made
        reason = self.refusal(ip)
        spelled = host.strip("[]").lower()
        if reason and ":" not in spelled and spelled != str(ip):  # an odd IPv4 spelling
            reason = reason.replace(f"{REFUSED} {ip}", f"{REFUSED} {ip} (written {spelled})", 1)
        return reason

    def socket_factory(self, addr_info: AddrInfoType) -> socket.socket:
        """A socket for `addr_info`, the address the connector is about to connect to;
        AddressRefused when the guard refuses that address."""
        family, kind, proto, _, sockaddr = addr_info
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = self.refusal(ip)
        if reason is not None:
            raise AddressRefused(reason)
        return socket.socket(family, kind, proto)


def _embedded_ipv4(ip: IPAddress) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries, and the form that carries it."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    return None
