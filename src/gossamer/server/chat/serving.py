"""POST /v1/chat/completions: render the conversation in harmony, run it, answer whole or streamed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gossamer.errors import GossamerError
from gossamer.harmony.render import RenderedPrompt
from gossamer.harmony.tokenizer import VOCAB_SIZE, token_table
from gossamer.server.chat.choice import ChatChoice, ChoiceDelta, merge_tool_calls
from gossamer.server.chat.convert import stop_strings, to_conversation, to_sampling_params
from gossamer.server.chat.protocol import ChatCompletionRequest
from gossamer.server.errors import invalid_param
from gossamer.server.generation import (
    ParamNames,
    new_request_id,
    prepare_turn,
    run_unless_disconnected,
    start_turn,
    token_usage,
)
from gossamer.server.server_tools import current_toolbox, offer, request_toolbox, with_loop
from gossamer.server.sse import openai_stream, sse_data, sse_response
from gossamer.server.state import ServerState, require_model
from gossamer.tools.browser.citations import CitationStream
from gossamer.tools.loop import ToolLoopTurn
from gossamer.turn import Turn, TurnSpec

logger = logging.getLogger(__name__)

PARAMS = ParamNames(prompt="messages", output="max_tokens")


def render_prompt(state: ServerState, request: ChatCompletionRequest, tenant: str) -> RenderedPrompt:
    """The exact harmony prompt for a chat request, replayed reasoning included (for /tokenize)."""
    try:
        toolbox = current_toolbox(state, n=request.n or 1, tool_choice=request.tool_choice)
        return state.pipeline.render(offer(to_conversation(request), toolbox), tenant)
    except GossamerError as exc:
        raise invalid_param(str(exc), "messages") from exc


class ChatCompletionRun:
    """State of one request across its choices; yields chunks or builds the whole answer."""

    def __init__(self, request: ChatCompletionRequest, model: str, turn: Turn | ToolLoopTurn) -> None:
        self.request = request
        self.model = model
        self.turn = turn
        self.id = turn.request_id
        self.created = int(time.time())
        num_top = (request.top_logprobs or 0) if request.logprobs else None
        table = token_table()
        citations = None
        if isinstance(turn, ToolLoopTurn) and "browser" in turn.toolbox.names:
            citations = CitationStream(turn.toolbox.cite)
        self.choices = [ChatChoice(i, table, num_top, citations) for i in range(turn.prepared.params.n)]

    def usage(self) -> dict[str, Any]:
        usage = self.turn.usage
        return {
            **token_usage(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens),
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        }

    async def deltas(self) -> AsyncIterator[tuple[int, ChoiceDelta]]:
        async for turn_delta in self.turn.deltas():
            delta = self.choices[turn_delta.index].translate(turn_delta)
            if not delta.is_empty():
                yield turn_delta.index, delta

    # -- whole answer ------------------------------------------------------------------------------

    async def collect(self) -> dict[str, Any]:
        parts: list[list[ChoiceDelta]] = [[] for _ in self.choices]
        try:
            async for index, delta in self.deltas():
                parts[index].append(delta)
        finally:
            await self.turn.close()
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [self._whole_choice(c, parts[c.index]) for c in self.choices],
            "usage": self.usage(),
        }

    def _whole_choice(self, choice: ChatChoice, deltas: list[ChoiceDelta]) -> dict[str, Any]:
        content = "".join(d.content for d in deltas)
        reasoning = "".join(d.reasoning for d in deltas)
        tool_calls = merge_tool_calls([tc for d in deltas for tc in d.tool_calls])
        message: dict[str, Any] = {
            "role": "assistant",
            "content": content if content or not tool_calls else None,
            "refusal": None,
            "reasoning": reasoning or None,
            "reasoning_content": reasoning or None,
        }
        if tool_calls:
            message["tool_calls"] = tool_calls
        if annotations := [a for d in deltas for a in d.annotations]:
            message["annotations"] = annotations
        if server_calls := [c for d in deltas for c in d.server_tool_calls]:
            message["server_tool_calls"] = server_calls  # an extension: docs/builtin-tools.md
        logprobs = None
        if choice.num_top_logprobs is not None:
            logprobs = {"content": [e for d in deltas for e in d.logprobs], "refusal": None}
        return {
            "index": choice.index,
            "message": message,
            "logprobs": logprobs,
            "finish_reason": choice.finish_reason or "stop",
        }

    # -- stream ------------------------------------------------------------------------------------

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        payload: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self._include_usage:
            payload["usage"] = usage
        return sse_data(payload)

    @property
    def _include_usage(self) -> bool:
        opts = self.request.stream_options
        return bool(opts and opts.include_usage)

    def _chunk_choice(self, index: int, delta: ChoiceDelta) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if delta.reasoning:
            body["reasoning"] = delta.reasoning
            body["reasoning_content"] = delta.reasoning
        if delta.content:
            body["content"] = delta.content
        if delta.tool_calls:
            body["tool_calls"] = delta.tool_calls
        if delta.annotations:
            body["annotations"] = delta.annotations
        if delta.server_tool_calls:
            body["server_tool_calls"] = delta.server_tool_calls
        choice: dict[str, Any] = {"index": index, "delta": body, "logprobs": None, "finish_reason": None}
        if delta.logprobs:
            choice["logprobs"] = {"content": delta.logprobs, "refusal": None}
        return choice

    def stream(self) -> AsyncIterator[bytes]:
        return openai_stream(self._frames(), f"chat stream {self.id}")

    async def _frames(self) -> AsyncGenerator[bytes, None]:
        try:
            # OpenAI opens each choice with the role and an empty content.
            for choice in self.choices:
                first = {"role": "assistant", "content": "", "refusal": None}
                yield self._chunk(
                    [{"index": choice.index, "delta": first, "logprobs": None, "finish_reason": None}]
                )
            async for index, delta in self.deltas():
                finish = delta.finish_reason
                delta.finish_reason = None
                if not delta.is_empty():
                    yield self._chunk([self._chunk_choice(index, delta)])
                if finish is not None:
                    end = {"index": index, "delta": {}, "logprobs": None, "finish_reason": finish}
                    yield self._chunk([end])
            if self._include_usage:
                yield self._chunk([], self.usage())
        finally:
            await self.turn.close()


async def create_chat_completion(state: ServerState, body: ChatCompletionRequest, raw: Request) -> Response:
    model = require_model(state, body.model)
    tenant = state.tenant(raw)
    toolbox = await request_toolbox(state, n=body.n or 1, tool_choice=body.tool_choice)

    def spec() -> TurnSpec:  # built in the worker thread: the conversion grows with the request
        return TurnSpec(
            conversation=offer(to_conversation(body), toolbox),
            params=to_sampling_params(body, VOCAB_SIZE, state.max_n),
            stop_strings=tuple(stop_strings(body.stop)),
            tenant=tenant,
        )

    prepared = await prepare_turn(state, spec, PARAMS)
    # Waiting in the queue or in prefill, the client may give up: watch for that from the start.
    start = start_turn(state, prepared, new_request_id("chatcmpl"), PARAMS)
    turn = await run_unless_disconnected(raw, asyncio.ensure_future(start))
    run = ChatCompletionRun(body, model, with_loop(state, toolbox, turn))
    if body.stream:
        return sse_response(run.stream())
    answer = await run_unless_disconnected(raw, asyncio.ensure_future(run.collect()))
    return JSONResponse(answer)
