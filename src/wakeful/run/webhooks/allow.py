"""Where callbacks may point: the allow-list that keeps `?callback=` from reaching what the server
can reach and its callers must not (server-side request forgery).

An entry (`ServerConfig.webhook_allow`, validated there) is a class of addresses (`loopback`,
`private`: RFC 1918 and unique-local, `public`: globally routable, `none`), a network, or a host
name (`*.example.com`: every name under the domain). A URL whose host matches a name entry is
allowed by its name, wherever it resolves. Any other host must resolve only to allowed addresses.

The check runs twice: when a call names the URL (refused with 400 before anything is stored), and
before every attempt, since what a name resolves to can change between the two (DNS rebinding). The
attempt then connects to the address that was checked, not to whatever a second lookup answers:
the URL's host is replaced by the address, with the name kept in `Host` and in TLS's server name
(which the certificate is verified against).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import TYPE_CHECKING, Any

from wakeful.config import WebhookAllow
from wakeful.errors import InvalidRequestError

if TYPE_CHECKING:
    import httpx

Address = IPv4Address | IPv6Address
MAX_URL = 2048
_PORTS = {"http": 80, "https": 443}
# `private`: the ranges set aside for private networks. Not Python's `is_private`, which also counts
# link-local addresses, where clouds serve instance metadata and credentials.
PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


@dataclass(frozen=True)
class Target:
    """Where one attempt connects, and what it must send for the URL's host to be served."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def _refuse(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, field="callback")


def parse(url: str) -> httpx.URL:
    """`url` if it is an absolute http(s) URL with a host; InvalidRequestError if not."""
    if len(url) > MAX_URL:
        raise _refuse(f"callback is longer than {MAX_URL} characters")
    import httpx  # loaded after start-up (wakeful.server.serve), not before the first answer

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise _refuse(f"callback is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _refuse("callback must be an http:// or https:// URL")
    return parsed


def _unmapped(address: Address) -> Address:
    """An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is checked as the IPv4 address it is."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class AllowList:
    def __init__(self, entries: Sequence[WebhookAllow]) -> None:
        self._entries = tuple(entries)
        self._names = [
            e for e in entries if isinstance(e, str) and e not in ("loopback", "private", "public", "none")
        ]
        self._networks = [e for e in entries if isinstance(e, IPv4Network | IPv6Network)]

    def allows_address(self, address: Address) -> bool:
        address = _unmapped(address)
        if "loopback" in self._entries and address.is_loopback:
            return True
        if "private" in self._entries and any(address in n for n in PRIVATE if n.version == address.version):
            return True
        if "public" in self._entries and address.is_global:
            return True
        return any(address in n for n in self._networks if n.version == address.version)

    def allows_name(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == n or (n.startswith("*.") and host.endswith(n[1:])) for n in self._names)

    async def accept(self, url: str) -> str:
        """`url`, if a call may name it as its callback; InvalidRequestError (400) if not."""
        await self.target(url)
        return url

    async def target(self, url: str) -> Target:
        """Where an attempt to post to `url` connects; InvalidRequestError if `url` is not allowed."""
        parsed = parse(url)
        host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what the allow-list names
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is None and self.allows_name(host):
            return Target(parsed)
        addresses = (
            [literal] if literal is not None else await _resolve(host, parsed.port or _PORTS[parsed.scheme])
        )
        refused = [a for a in addresses if not self.allows_address(a)]
        if refused:
            shown = ", ".join(sorted({str(a) for a in refused}))
            where = "is" if literal is not None else f"resolves to {shown}, which is"
            raise _refuse(f"callback host {host} {where} not in the webhook allow-list (--webhook-allow)")
        if literal is not None:
            return Target(parsed)
        pinned = parsed.copy_with(host=str(addresses[0]))
        extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
        return Target(pinned, {"Host": parsed.netloc.decode("ascii")}, extensions)


async def _resolve(host: str, port: int) -> list[Address]:
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _refuse(f"callback host {host} cannot be resolved: {exc}") from None
    # An IPv6 link-local address comes with its zone (`fe80::1%eth0`): the address is what is checked.
    addresses = {ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]) for *_, sockaddr in found}
    if not addresses:
        raise _refuse(f"callback host {host} cannot be resolved")
    return sorted(addresses, key=lambda a: (a.version, int(a)))
