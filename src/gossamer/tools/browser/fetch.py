"""Fetch what the model opens: httpx with limits, and no request to addresses it must not reach.

The guard runs after DNS resolution and again on every redirect: a URL is fetched only when every
address its host resolves to is public (not loopback, link-local such as 169.254.169.254, private,
unique-local, CGNAT, multicast or reserved), unless the operator allows that network
(`--browser-allow-network 10.0.0.0/8`). The connection then goes to the address that was checked
(the Host header and TLS name stay the host's), so a DNS answer that changes between the check and
the connection (rebinding) cannot move it. Limits: size (the body is streamed and cut), time
(the whole fetch, redirects included), redirects (each one checked), content type.

Resolver and transport are injectable: the tests map names to forbidden addresses and record
every connection, refusing any that is not loopback, so no packet can leave even if this guard
were wrong.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown", "application/pdf")
_REDIRECTS = (301, 302, 303, 307, 308)
# Besides what `ipaddress` calls private/loopback/link-local/...: shared address space (RFC 6598),
# which `is_private` leaves out, and the NAT64 prefix that can wrap any IPv4 address.
_EXTRA_BLOCKED = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("64:ff9b::/96"))


class FetchError(Exception):
    """A page could not be fetched; the message is for the model (and the user)."""


class BlockedAddress(FetchError):
    """The URL leads to an address the browser may not reach."""

    def __init__(self, message: str, address: IPAddress | None = None) -> None:
        super().__init__(message)
        self.address = address


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


async def checked_address(
    host: str, port: int, resolver: Resolver, allowed: Sequence[Network] = ()
) -> IPAddress:
    """The address to connect to for `host`, when every address it resolves to may be reached (a name
    with one public and one private address is refused); BlockedAddress (with `.address`) if not."""
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in await resolver(host, port)]
        except (OSError, ValueError) as exc:
            raise FetchError(f"cannot resolve {host}: {exc}") from None
    if not addresses:
        raise FetchError(f"{host} has no address")
    for address in addresses:
        if is_forbidden(address, allowed):
            raise BlockedAddress(f"{host} is at {address}, which may not be reached", address)
    return addresses[0]


def is_forbidden(address: IPAddress, allowed: Sequence[Network] = ()) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in net for net in allowed):
        return False
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or any(address in net for net in _EXTRA_BLOCKED if net.version == address.version)
    )


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 2 << 20  # the body read; a longer one is cut there
    timeout_s: float = 15.0  # the whole fetch, redirects included
    max_redirects: int = 5


@dataclass
class Fetched:
    url: str  # after redirects
    content_type: str
    body: bytes
    truncated: bool = False

    def text(self) -> str:
        return self.body.decode(_charset(self.content_type) or "utf-8", errors="replace")


@dataclass
class Fetcher:
    limits: FetchLimits = field(default_factory=FetchLimits)
    allowed_networks: tuple[Network, ...] = ()
    resolver: Resolver = system_resolver
    transport: httpx.AsyncBaseTransport | None = None  # None: httpx's own
    user_agent: str = "gossamer-browser/0.1 (+https://github.com/openai/gpt-oss tools)"

    async def fetch(self, url: str) -> Fetched:
        try:
            async with asyncio.timeout(self.limits.timeout_s):
                return await self._fetch(url)
        except TimeoutError:
            raise FetchError(f"fetching {url} took longer than {self.limits.timeout_s:g} s") from None

    async def _fetch(self, url: str) -> Fetched:
        async with httpx.AsyncClient(
            transport=self.transport, follow_redirects=False, timeout=self.limits.timeout_s, trust_env=False
        ) as client:
            for _ in range(self.limits.max_redirects + 1):
                request = await self._pinned_request(client, url)
                response = await client.send(request, stream=True)
                try:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    return await self._read(url, response)
                finally:
                    await response.aclose()
        raise FetchError(f"more than {self.limits.max_redirects} redirects from {url}")

    async def _pinned_request(self, client: httpx.AsyncClient, url: str) -> httpx.Request:
        """A request to `url` that connects to an address checked here, never to another."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"only http and https URLs can be opened, not {parts.scheme or 'a bare path'}")
        host = parts.hostname
        if not host:
            raise FetchError(f"the URL {url} has no host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await self._checked_address(host, port)
        netloc = f"[{address}]" if address.version == 6 else str(address)
        pinned = urlunsplit((parts.scheme, f"{netloc}:{port}", parts.path or "/", parts.query, ""))
        host_header = host if parts.port is None else f"{host}:{parts.port}"
        headers = {
            "Host": host_header,
            "User-Agent": self.user_agent,
            "Accept": ", ".join(TEXT_TYPES),
            "Accept-Encoding": "gzip, deflate",  # the two _decompress reads, within the size cap
        }
        return client.build_request("GET", pinned, headers=headers, extensions={"sni_hostname": host})

    async def _checked_address(self, host: str, port: int) -> IPAddress:
        try:
            return await checked_address(host, port, self.resolver, self.allowed_networks)
        except BlockedAddress as exc:
            logger.warning("browser: refused %s (%s): not a public address", host, exc.address)
            raise BlockedAddress(
                f"{host} resolves to {exc.address}, a loopback, link-local or private address that this "
                "browser does not open",
                exc.address,
            ) from None

    async def _read(self, url: str, response: httpx.Response) -> Fetched:
        if response.status_code >= 400:
            raise FetchError(f"{url} answered HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "text/html").lower()
        if content_type.split(";")[0].strip() not in TEXT_TYPES:
            raise FetchError(f"{url} is {content_type.split(';')[0]}, which the browser cannot show")
        body = bytearray()
        truncated = False
        async for chunk in response.aiter_raw():  # raw: a compressed body cannot expand past the cap
            body += chunk
            if len(body) >= self.limits.max_bytes:
                del body[self.limits.max_bytes :]
                truncated = True
                break
        data = bytes(body)
        encoding = response.headers.get("content-encoding", "").lower()
        if encoding and encoding != "identity":
            data = _decompress(data, encoding, self.limits.max_bytes)
        return Fetched(url, content_type, data, truncated)


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return None


def _decompress(data: bytes, encoding: str, max_bytes: int) -> bytes:
    import zlib

    if encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
        decoder = zlib.decompressobj(wbits)
        try:
            return decoder.decompress(data, max_bytes)  # bounded: a zip bomb stops at max_bytes
        except zlib.error as exc:
            raise FetchError(f"the page's {encoding} body is corrupt: {exc}") from None
    raise FetchError(f"the page is {encoding}-encoded, which the browser cannot read")


def parse_networks(texts: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(text.strip(), strict=False) for text in texts if text.strip())
