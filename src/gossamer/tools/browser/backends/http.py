"""What the web search APIs share: a key, a base URL, a time limit, and errors told to the model."""

from __future__ import annotations

from typing import Any

import httpx

from gossamer.tools.browser.backends import BackendError
from gossamer.tools.browser.page import Page


class HTTPSearchAPI:
    name = "search API"
    source = "web"
    default_url = ""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,  # tests: a fake server's
    ) -> None:
        self.api_key = api_key
        self.base_url = (base_url or self.default_url).rstrip("/")
        self.timeout_s = timeout_s
        self.transport = transport

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout_s) as client:
            try:
                response = await client.request(method, self.base_url + path, **kwargs)
            except httpx.HTTPError as exc:
                raise BackendError(f"{self.name} search failed: {exc}") from None
        if response.status_code != 200:
            raise BackendError(f"{self.name} answered HTTP {response.status_code}: {response.text[:300]}")
        try:
            return response.json()
        except ValueError:
            raise BackendError(f"{self.name} answered something that is not JSON") from None

    async def open(self, url: str) -> Page | None:
        return None  # pages are fetched directly (fetch.py), not through the search API
