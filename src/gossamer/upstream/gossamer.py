"""Another Gossamer server as an upstream: its /v1/completions speaks vLLM's token fields.

gossamer/server/completions takes a prompt of token ids, `return_token_ids`, `stop_token_ids`,
`skip_special_tokens`, `ignore_eos`, `top_k`, `min_p` and `return_tokens_as_token_ids` as vLLM
does, so a fleet of Gossamer CPU servers sits behind a Gossamer front the way vLLM replicas do.
"""

from __future__ import annotations

from gossamer.upstream.vllm import VLLMAdapter


class GossamerAdapter(VLLMAdapter):
    kind = "gossamer"

    def probe_problem(self, answer: dict) -> str | None:
        if super().probe_problem(answer) is not None:
            return "its /v1/completions returned no token ids: upgrade that Gossamer server"
        return None
