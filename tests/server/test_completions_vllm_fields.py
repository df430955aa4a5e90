"""/v1/completions speaks vLLM's token fields, as vLLM documents them: what a Gossamer front sends
the Gossamer servers behind it (gossamer/upstream/gossamer.py), and what vLLM clients send."""

from __future__ import annotations

import json

import httpx
import pytest

from gossamer.harmony.tokenizer import decode_text, encode_text
from gossamer.testing.scripted_engine import harmony_reply
from tests.server.conftest import GREETING, MODEL_NAME, REASONING

END, RETURN, MESSAGE = 200007, 200002, 200008  # <|end|>, <|return|>, <|message|>
PROMPT = encode_text("<|start|>user<|message|>hi<|end|><|start|>assistant")
REPLY = harmony_reply(reasoning=REASONING, final=GREETING)
FIRST_MESSAGE = REPLY[: REPLY.index(END) + 1]  # raw text stops where harmony ends a message
BODY = {"model": MODEL_NAME, "prompt": PROMPT, "max_tokens": 200}


@pytest.fixture
def http(scripted_app):
    with httpx.Client(base_url=scripted_app.base_url, timeout=30) as client:
        yield client


def complete(http: httpx.Client, **fields) -> dict:
    response = http.post("/completions", json={**BODY, **fields})
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]


def events(http: httpx.Client, **fields) -> list[dict]:
    with http.stream("POST", "/completions", json={**BODY, **fields, "stream": True}) as response:
        assert response.status_code == 200, response.read()
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_token_ids_come_back_whole_and_streamed(http):
    whole = complete(http, return_token_ids=True, skip_special_tokens=False)
    assert whole["prompt_token_ids"] == PROMPT
    assert whole["token_ids"] == FIRST_MESSAGE  # the stop token (<|end|>) included, as vLLM returns it
    assert (whole["finish_reason"], whole["stop_reason"]) == ("stop", END)

    chunks = events(http, return_token_ids=True, stream_options={"include_usage": True})
    choices = [c["choices"][0] for c in chunks if c["choices"]]
    assert choices[0]["prompt_token_ids"] == PROMPT  # in the first chunk only
    assert all("prompt_token_ids" not in c for c in choices[1:])
    assert [t for c in choices for t in c["token_ids"]] == FIRST_MESSAGE  # the deltas add up
    assert (choices[-1]["finish_reason"], choices[-1]["stop_reason"]) == ("stop", END)
    assert "".join(c["text"] for c in choices) == whole["text"]
    assert chunks[-1]["usage"]["completion_tokens"] == len(FIRST_MESSAGE)


def test_stop_token_ids_and_ignore_eos(http):
    cut = complete(http, return_token_ids=True, stop_token_ids=[MESSAGE])
    assert cut["token_ids"] == REPLY[: REPLY.index(MESSAGE) + 1]
    assert cut["stop_reason"] == MESSAGE and cut["text"] == decode_text(REPLY[: REPLY.index(MESSAGE)])
    # ignore_eos: harmony's own stops no longer stop; the request's stop_token_ids still do (as in vLLM).
    whole = complete(http, return_token_ids=True, ignore_eos=True, stop_token_ids=[RETURN])
    assert whole["token_ids"] == REPLY and whole["stop_reason"] == RETURN


def test_logprobs_name_token_ids_and_cover_every_token(http):
    fields = {"logprobs": 2, "return_token_ids": True, "return_tokens_as_token_ids": True}
    choice = complete(http, **fields)
    rows = choice["logprobs"]
    assert rows["tokens"] == [f"token_id:{t}" for t in choice["token_ids"]]  # one row per token id
    assert all(len(top) == 2 and all(k.startswith("token_id:") for k in top) for top in rows["top_logprobs"])
    streamed = [c["choices"][0] for c in events(http, **fields) if c["choices"]]
    assert [t for c in streamed for t in c["logprobs"]["tokens"]] == rows["tokens"]


def test_special_tokens_skipped_on_request_and_sampling_fields_reach_the_engine(http, scripted_app):
    whole = {"ignore_eos": True, "stop_token_ids": [RETURN]}
    assert "<|channel|>" in complete(http, **whole)["text"]  # Gossamer's default: special tokens by name
    skipped = complete(http, skip_special_tokens=True, **whole)["text"]
    assert "<|" not in skipped and REASONING in skipped and GREETING in skipped
    complete(http, top_k=5, min_p=0.1)
    params = scripted_app.engine.requests[-1].params
    assert (params.top_k, params.min_p) == (5, 0.1)
    complete(http, top_k=-1)  # vLLM's "off"
    assert scripted_app.engine.requests[-1].params.top_k is None
    bad = http.post("/completions", json={**BODY, "stop_token_ids": [10**7]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "stop_token_ids"
