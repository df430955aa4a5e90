"""What an upstream is: asked from the server itself, then checked with a one-token request.

`GET /v1/models` names the model, its context (`max_model_len`) and, in `owned_by`, the engine:
vLLM writes "vllm", SGLang "sglang", Gossamer "gossamer". A server that names none of those is
asked `/get_model_info` (SGLang's) and `/version` (vLLM's). SGLang's `/get_server_info` says
whether it honours seeds. Then one token is generated from token ids: a server that does not
give token ids back cannot be an upstream, and says so now rather than on the first request.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from gossamer.upstream.adapter import Adapter, error_message
from gossamer.upstream.config import UpstreamSpec
from gossamer.upstream.gossamer import GossamerAdapter
from gossamer.upstream.replica import Identity
from gossamer.upstream.sglang import SGLangAdapter
from gossamer.upstream.vllm import VLLMAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    "vllm": VLLMAdapter,
    "sglang": SGLangAdapter,
    "gossamer": GossamerAdapter,
}

IDENTIFY_READ_TIMEOUT_S = 60.0  # the probe generates a token: a cold GPU server may take a while


class Unreachable(Exception):
    """No usable answer now (refused connection, timeout, 5xx): try again later."""


class Incompatible(Exception):
    """It answered, and cannot be an upstream as it is; the message says why and what to change."""


def auth_headers(spec: UpstreamSpec) -> dict[str, str]:
    return {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}


async def _call(
    client: httpx.AsyncClient,
    spec: UpstreamSpec,
    method: str,
    path: str,
    timeout: httpx.Timeout,
    body: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    try:
        response = await client.request(
            method, spec.url + path, json=body, headers=auth_headers(spec), timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise Unreachable(f"{type(exc).__name__} on {method} {path}: {exc}") from exc
    if response.status_code >= 500:
        raise Unreachable(f"{method} {path} answered {response.status_code}")
    if response.status_code in (401, 403):
        raise Incompatible(
            f"it refused the API key on {path} ({response.status_code}): set that upstream's key "
            "(--upstream-api-key, or api_key / api_key_env in the upstream config file)"
        )
    try:
        payload = response.json()
    except json.JSONDecodeError:
        payload = response.text
    return response.status_code, payload


def _kind_from_owner(owned_by: Any) -> str | None:
    return owned_by if owned_by in ADAPTERS else None


async def identify(
    client: httpx.AsyncClient, spec: UpstreamSpec, connect_timeout_s: float
) -> tuple[Identity, Adapter]:
    """Raises Unreachable (try later) or Incompatible (fix the upstream or the config)."""
    timeout = httpx.Timeout(IDENTIFY_READ_TIMEOUT_S, connect=connect_timeout_s)
    status, models = await _call(client, spec, "GET", "/v1/models", timeout)
    cards = models.get("data") if status == 200 and isinstance(models, dict) else None
    if not cards or not isinstance(cards[0], dict) or not cards[0].get("id"):
        raise Incompatible(
            f"GET /v1/models answered {status} without a model: is it an OpenAI-compatible server?"
        )
    card = cards[0]
    kind = spec.kind or _kind_from_owner(card.get("owned_by"))
    if kind is None:
        if (await _call(client, spec, "GET", "/get_model_info", timeout))[0] == 200:
            kind = "sglang"
        elif (await _call(client, spec, "GET", "/version", timeout))[0] == 200:
            kind = "vllm"
        else:
            raise Incompatible(
                f"cannot tell which engine it is (owned_by={card.get('owned_by')!r}): "
                'name it, e.g. --upstream vllm+URL or kind = "vllm" in the config file'
            )
    max_model_len = card.get("max_model_len")
    supports_seed = True
    if kind == "sglang":
        status, info = await _call(client, spec, "GET", "/get_server_info", timeout)
        info = info if status == 200 and isinstance(info, dict) else {}
        supports_seed = bool(info.get("enable_deterministic_inference"))
        if max_model_len is None:
            max_model_len = info.get("context_length")
    adapter = ADAPTERS[kind](card["id"], supports_seed=supports_seed)
    status, answer = await _call(client, spec, "POST", adapter.generate_path, timeout, adapter.probe_body())
    if status != 200:
        raise Incompatible(
            f"a one-token request to {adapter.generate_path} answered {status}: "
            f"{error_message(answer, str(answer)[:200])}"
        )
    problem = adapter.probe_problem(answer if isinstance(answer, dict) else {})
    if problem is not None:
        raise Incompatible(problem)
    return Identity(
        kind, card["id"], max_model_len if isinstance(max_model_len, int) else None, supports_seed
    ), adapter
