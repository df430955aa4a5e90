"""A chat client of a gossamer server's Ollama-native `/api/chat` (streamed NDJSON)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from gossamer.errors import GossamerError


@dataclass(frozen=True)
class ChatChunk:
    thinking: str = ""
    content: str = ""
    done: bool = False
    done_reason: str | None = None
    num_output_tokens: int = 0
    duration_s: float = 0.0


def _auth(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def server_is_up(url: str, api_key: str | None = None, timeout_s: float = 0.5) -> bool:
    """Whether a server answers at `url`; one that wants another API key is an error, not absent."""
    try:
        response = httpx.get(f"{url}/api/version", headers=_auth(api_key), timeout=timeout_s)
    except httpx.HTTPError:
        return False
    if response.status_code == 401:
        raise GossamerError(f"the server at {url} needs an API key: set GOSSAMER_API_KEY")
    return response.status_code == 200


def served_models(url: str, api_key: str | None = None) -> list[str]:
    """The models the server has loaded (`/api/ps`; `/api/tags` also lists models merely on disk)."""
    response = httpx.get(f"{url}/api/ps", headers=_auth(api_key), timeout=5)
    response.raise_for_status()
    return [m["name"] for m in response.json().get("models", [])]


class ChatClient:
    def __init__(self, url: str, model: str, api_key: str | None = None) -> None:
        self.url = url
        self.model = model
        # No read timeout: a long chain of thought may pause the stream.
        timeout = httpx.Timeout(10.0, read=None)
        self._http = httpx.Client(base_url=url, headers=_auth(api_key), timeout=timeout)

    def stream(
        self, messages: list[dict], think: str | bool, options: dict | None = None
    ) -> Iterator[ChatChunk]:
        body = {"model": self.model, "messages": messages, "stream": True, "think": think}
        if options:
            body["options"] = options
        try:
            with self._http.stream("POST", "/api/chat", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise GossamerError(f"the server refused the chat: {_error_text(response)}")
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    data = json.loads(line)
                    if "error" in data:
                        raise GossamerError(f"the server failed mid-answer: {data['error']}")
                    message = data.get("message") or {}
                    yield ChatChunk(
                        thinking=message.get("thinking") or "",
                        content=message.get("content") or "",
                        done=bool(data.get("done")),
                        done_reason=data.get("done_reason"),
                        num_output_tokens=int(data.get("eval_count") or 0),
                        duration_s=int(data.get("eval_duration") or 0) / 1e9,
                    )
        except httpx.HTTPError as exc:
            raise GossamerError(f"lost the server at {self.url} ({exc})") from exc

    def close(self) -> None:
        self._http.close()


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    return f"{response.status_code} {error or data}"
