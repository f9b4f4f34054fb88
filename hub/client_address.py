"""The client's address: the peer's, or, behind proxies the operator trusts, the one they forwarded.

``X-Forwarded-For`` is believed only when the peer (``REMOTE_ADDR``) is one of ``HUB_TRUSTED_PROXIES``:
anyone else can write anything in it. The header is read from the right, where each trusted proxy
appended the peer it saw, and the first hop that is not itself a trusted proxy is the client. Whatever
is to its left was written by the client and is never believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies_parse(entries: Iterable[str]) -> tuple[Network, ...]:
    """The networks of ``HUB_TRUSTED_PROXIES`` (addresses or CIDR networks); ``ValueError`` names a bad
    entry."""
    networks = []
    for entry in (text.strip() for text in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or a CIDR network ({exc})") from None
    return tuple(networks)


def client_address(request: HttpRequest) -> str | None:
    """The client's address as PostgreSQL's ``inet`` holds it, or ``None`` when nothing usable is known."""
    peer = _address_parse(request.META.get("REMOTE_ADDR", ""))
    networks = _networks(tuple(settings.HUB_TRUSTED_PROXIES))
    if peer is None or not _is_trusted(peer, networks):
        return None if peer is None else str(peer)
    known = peer
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = _address_parse(hop)
        if address is None:
            # A trusted proxy appends the address it saw: garbage here came from further left, so the
            # last hop vouched for is all that is known.
            return str(known)
        if not _is_trusted(address, networks):
            return str(address)
        known = address
    return str(known)


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return trusted_proxies_parse(entries)


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def _address_parse(text: str) -> Address | None:
    """One hop: ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1`` or ``[2001:db8::1]:5678``; else ``None``.

    IPv6 zone ids are refused (``inet`` cannot hold them); an IPv4-mapped IPv6 address is its IPv4
    address, so a dual-stack listener matches the same trusted networks.
    """
    text = text.strip()
    if text.startswith("["):
        text, bracket, port = text[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and port[1:].isdigit())):
            return None
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
        if not port.isdigit():
            return None
    if "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
