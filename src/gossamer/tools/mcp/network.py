"""Where a request's MCP server may be: public addresses only, as the browser's fetches.

A Responses request names its MCP server's URL, so without a guard any client could make this
server connect to its own loopback services, the cloud's metadata address (169.254.169.254) or
the private network behind it. Every connection the MCP client opens goes through
`CheckedBackend`: the host is resolved, every address checked (the browser's
`fetch.checked_address`), and the connection made to the checked address (TLS still names the
host), so a DNS answer that changes in between cannot move it. `--mcp-allow-network 127.0.0.0/8`
lets a private network through; the operator's own servers (`--mcp`) are not checked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore2
import httpx2

from gossamer.tools.browser import fetch
from gossamer.tools.browser.fetch import IPAddress, Network, Resolver, checked_address, system_resolver

logger = logging.getLogger(__name__)


class BlockedAddress(OSError):
    """The server's host is at an address a request's MCP server may not be at."""


class CheckedBackend(httpcore2.AsyncNetworkBackend):
    def __init__(
        self,
        allowed: Sequence[Network],
        resolver: Resolver = system_resolver,
        inner: httpcore2.AsyncNetworkBackend | None = None,  # what connects (tests: loopback only)
    ) -> None:
        self.allowed = tuple(allowed)
        self.resolver = resolver
        self._inner = inner or httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        address = await self._checked(host, port)
        return await self._inner.connect_tcp(
            str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.AsyncNetworkStream:
        raise BlockedAddress("an MCP server is reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

    async def _checked(self, host: str, port: int) -> IPAddress:
        try:
            return await checked_address(host, port, self.resolver, self.allowed)
        except fetch.BlockedAddress as exc:
            logger.warning("mcp: refused %s (%s): not a public address", host, exc.address)
            raise BlockedAddress(
                f"{host} is at {exc.address}, a loopback, link-local or private address, where this server "
                "does not reach MCP servers a request names (the operator can allow a network with "
                "--mcp-allow-network)"
            ) from None
        except fetch.FetchError as exc:  # no address at all
            raise BlockedAddress(str(exc)) from None


class CheckedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport over a connection pool whose every connection is checked."""

    def __init__(self, backend: CheckedBackend) -> None:
        super().__init__(trust_env=False)
        # httpx2 does not take a network backend; its pool does. No proxies: the check must see
        # the server's own address.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False), network_backend=backend
        )
