"""Exa's search API (https://docs.exa.ai): POST /search with `x-api-key`; results carry title,
url and text or a summary."""

from __future__ import annotations

from gossamer.tools.browser.backends import SearchHit
from gossamer.tools.browser.backends.http import HTTPSearchAPI


class ExaBackend(HTTPSearchAPI):
    name = "Exa"
    default_url = "https://api.exa.ai"

    async def search(self, query: str, topn: int) -> list[SearchHit]:
        payload = {"query": query, "numResults": topn, "contents": {"text": {"maxCharacters": 1000}}}
        data = await self._json("POST", "/search", json=payload, headers={"x-api-key": self.api_key})
        results = data.get("results") if isinstance(data, dict) else None
        return [
            SearchHit(r["url"], r.get("title") or r["url"], _snippet(r.get("summary") or r.get("text")))
            for r in results or []
            if isinstance(r, dict) and r.get("url")
        ]


def _snippet(text: object) -> str:
    return " ".join(str(text or "").split())[:400]
