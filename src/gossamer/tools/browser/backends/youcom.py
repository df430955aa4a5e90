"""You.com's search API (https://documentation.you.com): GET /v1/search?query=&count= with
`X-API-Key`; `results.web[]` (title, url, description, snippets) and `results.news[]`."""

from __future__ import annotations

from gossamer.tools.browser.backends import SearchHit
from gossamer.tools.browser.backends.exa import _snippet
from gossamer.tools.browser.backends.http import HTTPSearchAPI


class YouComBackend(HTTPSearchAPI):
    name = "You.com"
    default_url = "https://api.ydc-index.io"

    async def search(self, query: str, topn: int) -> list[SearchHit]:
        params = {"query": query, "count": topn}
        data = await self._json("GET", "/v1/search", params=params, headers={"X-API-Key": self.api_key})
        results = (data.get("results") if isinstance(data, dict) else None) or {}
        hits = []
        for entry in [*(results.get("web") or []), *(results.get("news") or [])]:
            if not isinstance(entry, dict) or not entry.get("url"):
                continue
            snippets = entry.get("snippets") or []
            text = " ".join(str(s) for s in snippets) if snippets else entry.get("description")
            hits.append(SearchHit(entry["url"], entry.get("title") or entry["url"], _snippet(text)))
        return hits[:topn]
