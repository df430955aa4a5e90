"""Completions request types, in the order of OpenAI's API reference."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from gossamer.server.chat.protocol import LogitBias, Stop, StreamOptions
from gossamer.server.structured_outputs import GuidedFields


class CompletionRequest(GuidedFields):
    model_config = ConfigDict(extra="allow")

    model: str
    prompt: str | list[str] | list[int] | list[list[int]]
    best_of: int | None = Field(default=None, ge=1)
    echo: bool | None = False
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: LogitBias = None
    logprobs: int | None = Field(default=None, ge=0, le=20)
    max_tokens: int | None = Field(default=16, ge=1)
    n: int | None = Field(default=None, ge=1)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    stop: Stop = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    suffix: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    user: str | None = None
    # vLLM's token fields (gossamer/server/completions/choice.py): what a Gossamer front asks of the
    # Gossamer servers behind it, and what vLLM clients send.
    top_k: int | None = Field(default=None, ge=-1)  # None, 0 or -1: off
    min_p: float | None = Field(default=None, ge=0.0, le=1.0)
    stop_token_ids: list[int] | None = None
    ignore_eos: bool | None = False  # as vLLM's: the end-of-text and harmony stops no longer stop
    skip_special_tokens: bool | None = None  # None: special tokens show by name in the text
    return_token_ids: bool | None = False
    return_tokens_as_token_ids: bool | None = False
