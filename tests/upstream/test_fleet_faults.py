"""A replica killed (SIGKILL) in the middle of 30 concurrent conversations.

What must hold: requests that had not started streaming succeed on the other replicas; streams
that were on the dead one end with an error event that says what happened; nothing hangs and no
5xx comes without a body; the front takes the replica out within the health-check interval, and
sends it work again once it is back.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import openai
import pytest

from gossamer.upstream.replica import ReplicaState
from tests.upstream.fleet import Fleet
from tests.upstream.test_fleet_affinity import CITIES
from tests.upstream.test_fleet_clients import MODEL, WEATHER_TOOL

pytestmark = pytest.mark.slow

TURNS = 2


@dataclass
class Outcome:
    answered: int = 0  # turns answered in full
    cut: list[str] = field(default_factory=list)  # error events after chunks had come: the messages
    refused: list[str] = field(default_factory=list)  # errors before any chunk (must stay empty)


async def conversation(client: openai.AsyncOpenAI, city: str) -> Outcome:
    outcome = Outcome()
    messages: list[dict] = [{"role": "user", "content": f"What's the weather in {city}?"}]
    for _ in range(TURNS):
        num_chunks = 0
        text = ""
        try:
            stream = await client.chat.completions.create(
                model=MODEL,
                messages=messages,
                tools=[WEATHER_TOOL],
                temperature=0,
                stream=True,
                max_tokens=32,
            )
            async for chunk in stream:
                num_chunks += 1
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
        except openai.APIStatusError as exc:  # an HTTP error status: it must come with a body
            outcome.refused.append(f"{exc.status_code}: {exc.body}")
            return outcome
        except openai.APIError as exc:  # an error event in the stream
            (outcome.cut if num_chunks else outcome.refused).append(exc.message)
            return outcome
        outcome.answered += 1
        messages += [
            {"role": "assistant", "content": text or "(a call)"},
            {"role": "user", "content": "Thanks!"},
        ]
    return outcome


async def wait_for(predicate, timeout_s: float, what: str) -> float:
    """Seconds until predicate() held; bounded."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout_s, f"{what} did not happen within {timeout_s} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_killing_a_replica_mid_run(upstream_fleet: Fleet):
    front = upstream_fleet.front
    engine = front.engine
    interval = engine.config.health_interval_s
    victim = upstream_fleet.replicas[1]
    seen = next(r for r in engine.replicas if r.label == victim.label)
    client = openai.AsyncOpenAI(base_url=front.base_url, api_key="unused", max_retries=0, timeout=60)

    runs = [asyncio.ensure_future(conversation(client, city)) for city in CITIES]

    def streaming_on_victim() -> bool:
        return any(
            index in flight.started and label == victim.label
            for flight in list(engine._flights.values())
            for index, label in flight.replica_of.items()
        )

    await wait_for(streaming_on_victim, 60, "a stream on the victim")
    victim.kill()
    down_after = await wait_for(lambda: seen.state is ReplicaState.DOWN, 10, "marking the victim down")
    assert down_after <= interval + 0.5
    victim.start()  # back on its port while the run goes on (a model load takes seconds)

    outcomes = await asyncio.wait_for(asyncio.gather(*runs), timeout=180)
    refused = [m for o in outcomes for m in o.refused]
    cut = [m for o in outcomes for m in o.cut]
    assert not refused, refused  # nothing failed before it streamed: those went to the other replicas
    assert cut, "no stream was cut, so the kill hit nothing"
    assert all(victim.label in m and "failed mid-answer" in m for m in cut), cut
    # Every conversation went through all its turns, or was cut once, mid-answer, on the victim.
    assert all(o.answered == TURNS or len(o.cut) == 1 for o in outcomes)

    # Back on its port: the front finds it at a health check and sends it work again.
    victim.wait_ready()
    await wait_for(lambda: seen.state is ReplicaState.UP, 10 + 2 * interval, "the victim coming back")
    before = upstream_fleet.completions_served()[victim.label]
    for city in CITIES[:9]:  # least outstanding tokens, ties in turn: an idle fleet reaches it within three
        await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Is it raining in {city}?"}],
            temperature=0,
            max_tokens=4,
        )
        if upstream_fleet.completions_served()[victim.label] > before:
            break
    assert upstream_fleet.completions_served()[victim.label] > before
