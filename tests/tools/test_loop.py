"""The tool loop over the real turn pipeline and a scripted engine that browses and runs python."""

from __future__ import annotations

import asyncio

from gossamer.engine.protocol import SamplingParams
from gossamer.harmony.conversation import Conversation, Message
from gossamer.harmony.events import BuiltinToolCall, ContentDelta, Finished, FinishReason
from gossamer.testing.scripted_engine import ScriptedEngine
from gossamer.testing.tool_script import builtin_tool_script
from gossamer.tools.browser.tool import BrowserTool
from gossamer.tools.events import ServerToolFinished, ServerToolStarted
from gossamer.tools.loop import ToolLoopTurn
from gossamer.tools.protocol import ToolCall, ToolResult
from gossamer.tools.toolbox import ToolBox
from gossamer.turn import TurnPipeline, TurnSpec


class EchoPython:
    """A python tool that 'runs' nothing: it echoes, so the loop is tested without a sandbox."""

    name = "python"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def namespace(self):
        from gossamer.harmony.conversation import ToolNamespace

        return ToolNamespace("python", "Run python.")

    async def run(self, call: ToolCall) -> ToolResult:
        self.calls.append(call.arguments)
        return ToolResult(output="42\n")


def run_loop(toolbox: ToolBox, question: str, *, max_calls: int = 16, max_tokens: int | None = None):
    engine = ScriptedEngine(builtin_tool_script, max_context_length=8192, tokens_per_step=16)
    pipeline = TurnPipeline(engine)
    conv = Conversation(messages=[Message("user", question)])
    toolbox.offer(conv)

    async def go():
        prepared = await pipeline.prepare_async(TurnSpec(conv, SamplingParams(max_tokens=max_tokens)))
        turn = ToolLoopTurn(await pipeline.start(prepared, "req-1"), toolbox, max_calls=max_calls)
        events = [e async for d in turn.deltas() for e in d.events]
        return turn, events

    turn, events = asyncio.run(go())
    return engine, turn, events


def test_python_call_runs_and_the_answer_reads_its_output():
    python = EchoPython()
    engine, turn, events = run_loop(ToolBox([python]), "Please compute 6*7")
    assert python.calls == ["print(6*7)"]
    kinds = [type(e).__name__ for e in events if not type(e).__name__.endswith("Delta")]
    assert kinds == ["BuiltinToolCall", "ServerToolStarted", "ServerToolFinished", "Finished"]
    assert "".join(e.text for e in events if isinstance(e, ContentDelta)) == "The result is 42."
    finished = events[-1]
    assert finished.reason is FinishReason.STOP and finished.output_tokens > 0
    # Two engine requests; the second prompt holds the call and its result in harmony's form.
    assert len(engine.requests) == 2 and turn.usage.prompt_tokens == sum(
        len(r.prompt_ids) for r in engine.requests
    )
    from gossamer.harmony.tokenizer import decode_text

    second = decode_text(engine.requests[1].prompt_ids)
    assert "<|start|>assistant to=python<|channel|>analysis code<|message|>print(6*7)<|call|>" in second
    assert "<|start|>python to=assistant<|channel|>analysis<|message|>42\n<|end|>" in second
    assert "## python\n\nRun python." in second


def test_browser_search_open_find_then_cited_answer(local_backend):
    browser = BrowserTool(local_backend, None)
    _, _, events = run_loop(ToolBox([browser]), "How many volcanoes has Iceland")
    calls = [e.call.recipient for e in events if isinstance(e, ServerToolStarted)]
    assert calls == ["browser.search", "browser.open", "browser.find"]
    results = [e.result for e in events if isinstance(e, ServerToolFinished)]
    assert all(r.status == "completed" for r in results), [r.output for r in results]
    assert results[0].output.startswith("[0] How many volcanoes has Iceland (search://")
    assert results[1].output.startswith("[1] Volcanoes of Iceland (file://")
    assert "L2: Iceland has about 130 volcanoes." in results[1].output
    answer = "".join(e.text for e in events if isinstance(e, ContentDelta))
    assert answer == "The page says it about Iceland 【1†L0-L1】."
    assert browser.cite(1)[0].endswith("/corpus/volcanoes.md") and browser.cite(0) is None


def test_the_call_limit_tells_the_model_then_stops():
    python = EchoPython()

    class Stubborn(EchoPython):
        async def run(self, call):  # never the answer the script waits for: it keeps calling
            return await super().run(call)

    _, _, events = run_loop(ToolBox([python]), "run: print(1)", max_calls=0)
    refused = [e.result for e in events if isinstance(e, ServerToolFinished)]
    assert refused and refused[0].status == "failed" and "limit of 0 tool calls" in refused[0].output
    assert python.calls == []  # nothing ran
    assert isinstance(events[-1], Finished)


def test_builtin_call_events_reach_front_ends_in_order():
    _, _, events = run_loop(ToolBox([EchoPython()]), "compute 1+1")
    index = {type(e): i for i, e in enumerate(events)}
    assert index[BuiltinToolCall] < index[ServerToolStarted] < index[ServerToolFinished] < index[Finished]
