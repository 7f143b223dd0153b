"""Facts about the HTTP request that several layers record."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def trusted_proxies(text: str) -> tuple[Network, ...]:
    """The networks named by ENCAISSE_TRUSTED_PROXIES ("10.0.0.1, 192.168.0.0/16, ::1"); a typo stops start-up.

    A wrong entry silently ignored would either trust nobody (every payer behind
    the proxy shares one address and one rate limit) or trust too much, so it is
    refused with the entry named rather than guessed at.
    """
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"ENCAISSE_TRUSTED_PROXIES: {entry!r} is not an IP address or network (CIDR such as 10.0.0.0/8); "
                "give a comma-separated list, or leave it empty when no proxy stands in front") from error
    return tuple(networks)


def _address(text: str) -> Address | None:
    """An address as a header or the server wrote it (IPv4-mapped IPv6 read as IPv4), None when it is not one."""
    try:
        address = ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The address the request came from (None when unknown), for rate limits and consent records.

    X-Forwarded-For is read only when the connection comes from a proxy named in
    ENCAISSE_TRUSTED_PROXIES, since anyone else can write any address into it.
    Each trusted proxy appends the address it received from, so the header is
    walked from the right and the first address not itself a trusted proxy is
    the client. An entry that is not an address ends the walk at the last hop
    known to be true: a proxy's address rather than a made-up one.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    networks: tuple[Network, ...] = getattr(settings, "ENCAISSE_TRUSTED_PROXIES", ())
    hop = _address(remote) if remote else None
    if hop is None or not _trusted(hop, networks):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for entry in reversed([part for part in forwarded.split(",") if part.strip()]):
        address = _address(entry)
        if address is None:
            break
        hop = address
        if not _trusted(hop, networks):
            break
    return str(hop)
