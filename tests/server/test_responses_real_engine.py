"""The Responses API on the real engine and model code, with random weights.

Random weights write arbitrary token ids, which is the point: whatever the model emits, the API
answers with a valid response (never a 500), counts usage from the engine, and the engine's
prefix cache shows up as cached tokens when a chain repeats its prefix.
"""

from __future__ import annotations

import openai
import pytest
from openai.types.responses import Response

from gossamer.model.config import PRESETS
from gossamer.testing.checkpoint import write_checkpoint
from tests.server.responses_harness import serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("random-tiny")
    model_dir = write_checkpoint(root / "random-tiny", PRESETS["tiny"], layout="hf", seed=0)
    with (
        serve(root / "responses.sqlite3", engine="model", model=str(model_dir), timeout_s=300) as running,
        openai.OpenAI(base_url=running.base_url, api_key="unused", max_retries=0) as client,
    ):
        yield client


def test_arbitrary_tokens_still_make_a_valid_response(client):
    first = client.responses.create(
        model="random-tiny", input="hello " * 40, max_output_tokens=12, temperature=0
    )
    Response.model_validate(first.model_dump())
    assert first.status in ("completed", "incomplete")
    assert first.usage.output_tokens <= 12 and first.usage.input_tokens > 80

    events = list(
        client.responses.create(
            model="random-tiny",
            input="more",
            previous_response_id=first.id,
            max_output_tokens=12,
            stream=True,
        )
    )
    assert events[0].type == "response.created"
    assert events[-1].type in ("response.completed", "response.incomplete")
    second = events[-1].response
    # The chain re-sends the first prompt as its prefix: the engine's prefix cache serves it.
    assert second.usage.input_tokens > first.usage.input_tokens
    assert second.usage.input_tokens_details.cached_tokens > 0
    assert client.responses.retrieve(second.id).model_dump() == second.model_dump()
