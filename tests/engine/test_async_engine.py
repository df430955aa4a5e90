"""The async engine: streams from a background thread, aborts, rejects at once, limits its queue."""

from __future__ import annotations

import asyncio
import threading

import pytest

from gossamer.engine.async_engine import AsyncEngine
from gossamer.engine.protocol import QueueFull, RequestRejected, SamplingParams
from tests.engine.conftest import prompts, reference_greedy

GREEDY = SamplingParams(temperature=0.0, max_tokens=12)


@pytest.fixture
async def engine(make_engine):
    engine = AsyncEngine(make_engine(max_context_length=80), max_queue=4)
    yield engine
    await engine.shutdown()


async def collect(stream) -> list[int]:
    return [t async for out in stream for t in out.token_ids]


async def test_concurrent_streams_match_reference(model, engine):
    all_prompts = prompts([6, 30, 15])
    streams = [engine.generate(str(i), p, GREEDY) for i, p in enumerate(all_prompts)]
    results = await asyncio.gather(*(collect(s) for s in streams))
    assert results == [reference_greedy(model, p, 12) for p in all_prompts]
    assert engine.stats().num_finished == 3


async def test_model_runs_off_the_event_loop(engine):
    loop_thread = threading.get_ident()
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    outputs = [out async for out in engine.generate("a", prompts([40])[0], GREEDY)]
    task.cancel()
    assert engine._thread.ident != loop_thread
    assert ticks > len(outputs)  # the loop kept running between steps
    assert outputs[-1].finished and outputs[-1].finish_reason == "length"


async def test_over_long_request_fails_at_once_while_others_continue(model, engine):
    good = prompts([10])[0]
    stream = engine.generate("good", good, GREEDY)
    with pytest.raises(RequestRejected, match="context length of 80"):
        engine.generate("bad", prompts([75])[0], SamplingParams(max_tokens=10))
    assert await collect(stream) == reference_greedy(model, good, 12)


async def test_closing_a_stream_aborts_and_frees_blocks(engine):
    start = engine.core.block_manager.num_free_blocks
    stream = engine.generate("x", prompts([20])[0], SamplingParams(temperature=0.0, max_tokens=60))
    async for _ in stream:
        break
    await stream.aclose()
    for _ in range(200):
        if not engine.core.has_unfinished():
            break
        await asyncio.sleep(0.01)
    assert engine.core.block_manager.num_free_blocks == start
    assert engine.stats().num_aborted == 1


async def test_abort_ends_the_stream_with_reason(engine):
    stream = engine.generate("y", prompts([20])[0], SamplingParams(temperature=0.0, max_tokens=60))
    first = await anext(stream)
    await engine.abort("y")
    rest = [out async for out in stream]
    last = (rest or [first])[-1]
    assert last.finished and last.finish_reason == "abort"


async def test_queue_full(engine):
    params = SamplingParams(temperature=0.0, max_tokens=2)
    streams = [engine.generate(str(i), [1, 2, 3], params) for i in range(8 + 4)]
    with pytest.raises(QueueFull):
        engine.generate("one-too-many", [1, 2, 3], params)
    await asyncio.gather(*(collect(s) for s in streams))
