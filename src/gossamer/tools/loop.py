"""The server-side tool loop: run a turn, execute its built-in call, append both, continue.

    turn 1: ... <|channel|>analysis to=browser.search<|message|>{"query": ...}<|call|>
            -> ServerToolStarted, run it, ServerToolFinished
    turn 2: the prompt gains the call and `<|start|>browser.search to=assistant<|channel|>analysis
            <|message|>RESULT<|end|>`; the model reads it and goes on: another call, or its answer.

`ToolLoopTurn` has the interface of `turn.Turn` (request_id, prepared, usage, deltas(), cancel(),
close()), so a front-end wraps its first turn in it and translates the same deltas. Each turn's
`Finished` is held back; the loop ends with one `Finished` that counts every turn's tokens. A
function call (for the client) ends the loop like an answer does.

Limits: after `max_calls` calls the model is told, as the tool's result, that no more calls run and
to answer; a call after that ends the loop (`length`). A request's max_tokens covers all turns.
A call that needs the user's approval (`ToolBox.needs_approval`) does not run: the loop ends with
`ServerToolApprovalRequested` and `tool_calls`, and a later request runs or declines it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gossamer.harmony.conversation import Message, ToolCallItem, new_call_id
from gossamer.harmony.events import BuiltinToolCall, Finished, FinishReason, ParsedOutput
from gossamer.tools.events import ServerToolApprovalRequested, ServerToolFinished, ServerToolStarted
from gossamer.tools.protocol import ToolCall, ToolResult
from gossamer.tools.toolbox import ToolBox
from gossamer.turn.errors import ContextOverflow
from gossamer.turn.pipeline import PreparedTurn, Turn, TurnUsage
from gossamer.turn.sequence import TurnDelta

logger = logging.getLogger(__name__)

DEFAULT_MAX_CALLS = 16


@dataclass
class LoopTotals:
    """The loop's engine work, in the attributes `Generation` has (Ollama's timings read them)."""

    num_prompt_tokens: int = 0
    num_generated_tokens: int = 0
    first_token_s: float | None = None


class ToolLoopTurn:
    def __init__(self, first: Turn, toolbox: ToolBox, *, max_calls: int = DEFAULT_MAX_CALLS) -> None:
        if first.prepared.params.n != 1:
            raise ValueError("the tool loop runs one sequence (n=1)")
        self.pipeline = first.pipeline
        self.prepared: PreparedTurn = first.prepared  # the first turn's: its params are the request's
        self.toolbox = toolbox
        self.max_calls = max_calls
        self.current = first
        self.cancelled = False
        self.calls: list[ServerToolFinished] = []
        self.pending_approval: ToolCall | None = None  # the call the loop stopped at, awaiting approval
        self._num_attempts = 0  # calls the model made, run or refused over the limit
        self._past: list[Turn] = []  # finished turns, for usage
        self._tool_task: asyncio.Task[ToolResult] | None = None
        spec = first.prepared.spec
        conv = dataclasses.replace(spec.conversation, messages=list(spec.conversation.messages))
        self._spec = dataclasses.replace(spec, conversation=conv)

    @property
    def request_id(self) -> str:
        return self._past[0].request_id if self._past else self.current.request_id

    @property
    def turns(self) -> list[Turn]:
        return [*self._past, self.current] if self.current not in self._past else list(self._past)

    @property
    def usage(self) -> TurnUsage:
        usages = [turn.usage for turn in self.turns]
        return TurnUsage(
            prompt_tokens=sum(u.prompt_tokens for u in usages),
            cached_tokens=sum(u.cached_tokens for u in usages),
            completion_tokens=sum(u.completion_tokens for u in usages),
            reasoning_tokens=sum(u.reasoning_tokens for u in usages),
        )

    @property
    def generation(self) -> LoopTotals:
        gens = [turn.generation for turn in self.turns]
        return LoopTotals(
            num_prompt_tokens=sum(g.num_prompt_tokens for g in gens),
            num_generated_tokens=sum(g.num_generated_tokens for g in gens),
            first_token_s=gens[0].first_token_s,
        )

    async def deltas(self) -> AsyncIterator[TurnDelta]:
        reasoning_tokens = output_tokens = 0
        try:
            while True:
                turn = self.current
                finished, call = None, None
                async for delta in turn.deltas():
                    events = []
                    for event in delta.events:
                        if isinstance(event, Finished):
                            finished = event
                            continue
                        if isinstance(event, BuiltinToolCall):
                            call = event
                        events.append(event)
                    if events or delta.logprobs:
                        yield TurnDelta(delta.index, events, delta.logprobs)
                self._past.append(turn)
                if finished is not None:
                    reasoning_tokens += finished.reasoning_tokens
                    output_tokens += finished.output_tokens
                reason = finished.reason if finished is not None else FinishReason.LENGTH
                parsed = turn.sequences[0].parsed
                if not self._continues(reason, call, parsed):
                    yield TurnDelta(0, [Finished(reason, reasoning_tokens, output_tokens)])
                    return
                assert call is not None
                tool_call = ToolCall(new_call_id(), call.recipient, call.text)
                if self._num_attempts <= self.max_calls and self.toolbox.needs_approval(tool_call):
                    self.pending_approval = tool_call
                    yield TurnDelta(0, [ServerToolApprovalRequested(tool_call)])
                    yield TurnDelta(0, [Finished(FinishReason.TOOL_CALLS, reasoning_tokens, output_tokens)])
                    return
                yield TurnDelta(0, [ServerToolStarted(tool_call)])
                started = time.perf_counter()
                result = await self._run(tool_call)
                done = ServerToolFinished(tool_call, result, time.perf_counter() - started)
                self.calls.append(done)
                yield TurnDelta(0, [done])
                next_turn = await self._next_turn(parsed, tool_call, result) if not self.cancelled else None
                if next_turn is None:
                    reason = FinishReason.ABORT if self.cancelled else FinishReason.LENGTH
                    yield TurnDelta(0, [Finished(reason, reasoning_tokens, output_tokens)])
                    return
                self.current = next_turn
        finally:
            await self.close()

    def _continues(self, reason: FinishReason, call: BuiltinToolCall | None, parsed: ParsedOutput) -> bool:
        if reason is not FinishReason.TOOL_CALLS or call is None or parsed.tool_calls or self.cancelled:
            return False  # an answer, a cut, an abort, or a function call the client runs
        self._num_attempts += 1
        if self._num_attempts > self.max_calls + 1:
            logger.warning(
                "tool loop of %s: still calling after the limit of %d; stopped",
                self.request_id,
                self.max_calls,
            )
            return False
        return True

    async def _run(self, call: ToolCall) -> ToolResult:
        if self._num_attempts > self.max_calls:
            return ToolResult.failure(
                f"The limit of {self.max_calls} tool calls for this answer is reached: this call did "
                "not run. Answer now with what you have."
            )
        self._tool_task = asyncio.ensure_future(self.toolbox.run(call))
        try:
            return await self._tool_task
        except asyncio.CancelledError:
            if self.cancelled and not _current_task_cancelling():
                return ToolResult.failure("The call was cancelled.")
            raise
        finally:
            self._tool_task = None

    async def _next_turn(self, parsed: ParsedOutput, call: ToolCall, result: ToolResult) -> Turn | None:
        """The conversation with the call and its result appended, started as the next turn."""
        conv = self._spec.conversation
        conv.messages.append(
            Message(
                "assistant",
                parsed.preamble,
                reasoning=parsed.reasoning or None,
                tool_calls=[ToolCallItem(call.call_id, call.recipient, call.arguments)],
            )
        )
        conv.messages.append(Message("tool", result.output, tool_call_id=call.call_id, name=call.recipient))
        params = self._spec.params
        if params.max_tokens is not None:
            left = params.max_tokens - sum(turn.generation.num_generated_tokens for turn in self._past)
            if left <= 0:
                return None
            params = dataclasses.replace(params, max_tokens=left)
        spec = dataclasses.replace(self._spec, params=params)
        try:
            prepared = await self.pipeline.prepare_async(spec)
        except ContextOverflow as exc:
            logger.warning("tool loop of %s: the conversation outgrew the context (%s)", self.request_id, exc)
            return None
        return await self.pipeline.start(prepared, f"{self.request_id}-{len(self._past)}")

    async def cancel(self) -> None:
        self.cancelled = True
        if self._tool_task is not None:
            self._tool_task.cancel()
        await self.current.cancel()

    async def close(self) -> None:
        await self.current.close()


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
