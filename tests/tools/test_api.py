"""The built-in tools through every API, on the real app (127.0.0.1) over a scripted gpt-oss that
browses the local index and runs python: Responses (events, items, citations, chains, restarts),
the Agents SDK's hosted tools, Chat Completions and Ollama clients with no tool code."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx
import openai
import pytest

from gossamer.tools.browser.backends.local import LocalBackend
from gossamer.tools.browser.index import LocalIndex
from tests.server.conftest import free_port
from tests.tools.conftest import CORPUS
from tests.tools.live import tool_app
from tests.tools.sandbox_support import needs_sandbox

MODEL = "gpt-oss-20b"
QUESTION = "How many volcanoes has Iceland"


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for name, text in CORPUS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="module")
def index_path(tmp_path_factory, corpus_dir):
    path = tmp_path_factory.mktemp("index") / "index.sqlite3"
    index = LocalIndex(path)
    index.add(corpus_dir)
    index.close()
    return path


@pytest.fixture(scope="module")
def app(index_path):
    running = tool_app(LocalBackend(LocalIndex(index_path)))
    yield running
    running.stop()


@pytest.fixture
def client(app):
    with openai.OpenAI(base_url=app.base_url, api_key="unused", max_retries=0) as c:
        yield c


def _volcano_url(corpus_dir) -> str:
    return (corpus_dir / "volcanoes.md").as_uri()


def test_responses_web_search_streams_its_calls_and_cites_the_document(client, corpus_dir):
    events = list(
        client.responses.create(model=MODEL, input=QUESTION, tools=[{"type": "web_search"}], stream=True)
    )
    types = [e.type for e in events]
    assert types.count("response.web_search_call.in_progress") == 3
    assert types.count("response.web_search_call.searching") == 3
    assert types.count("response.web_search_call.completed") == 3
    assert types.count("response.output_text.annotation.added") == 1
    response = events[-1].response
    assert response.status == "completed"
    calls = [item for item in response.output if item.type == "web_search_call"]
    assert [c.action.type for c in calls] == ["search", "open_page", "find_in_page"]
    assert calls[0].action.query == QUESTION and calls[1].action.url == _volcano_url(corpus_dir)
    message = response.output[-1]
    text = message.content[0]
    (annotation,) = text.annotations
    assert annotation.type == "url_citation" and annotation.url == _volcano_url(corpus_dir)
    assert annotation.title == "Volcanoes of Iceland"
    assert (
        text.text[annotation.start_index : annotation.end_index]
        == f" ([Volcanoes of Iceland]({annotation.url})) "
    )
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == text.text  # the streamed text is the rewritten one
    stored = client.responses.retrieve(response.id)
    assert [i.type for i in stored.output] == [i.type for i in response.output]
    assert stored.output[-1].content[0].annotations[0].url == annotation.url


def test_a_chain_continues_with_the_tool_calls_in_its_history(client):
    first = client.responses.create(model=MODEL, input=QUESTION, tools=[{"type": "web_search_preview"}])
    second = client.responses.create(
        model=MODEL,
        input="How many tool results do you see?",
        previous_response_id=first.id,
        tools=[{"type": "web_search_preview"}],
    )
    assert second.output_text == "I see 3 tool results."


def test_an_sdk_replayed_call_item_without_its_extension_is_found_in_the_store(client):
    first = client.responses.create(model=MODEL, input=QUESTION, tools=[{"type": "web_search"}])
    replayed = [item.model_dump(exclude_none=True) for item in first.output]
    for item in replayed:
        item.pop("harmony", None)  # what a client that keeps only OpenAI's fields sends back
    second = client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": QUESTION},
            *replayed,
            {"role": "user", "content": "How many tool results do you see?"},
        ],
        tools=[{"type": "web_search"}],
    )
    assert second.output_text == "I see 3 tool results."


@needs_sandbox()
def test_responses_code_interpreter(client):
    tools = [{"type": "code_interpreter", "container": {"type": "auto"}}]
    response = client.responses.create(model=MODEL, input="Please compute 6*7", tools=tools)
    (call,) = [item for item in response.output if item.type == "code_interpreter_call"]
    assert call.code == "print(6*7)" and call.outputs[0].logs == "42\n" and call.status == "completed"
    assert response.output_text == "The result is 42."


def test_the_agents_sdk_hosted_tools_run_unchanged(app, corpus_dir):
    from agents import (
        Agent,
        CodeInterpreterTool,
        OpenAIResponsesModel,
        Runner,
        WebSearchTool,
        set_tracing_disabled,
    )

    set_tracing_disabled(True)

    async def go():
        async with openai.AsyncOpenAI(base_url=app.base_url, api_key="unused", max_retries=0) as client:
            model = OpenAIResponsesModel(model=MODEL, openai_client=client)
            browsing = Agent(
                name="Browser", instructions="Answer with sources.", tools=[WebSearchTool()], model=model
            )
            browsed = await Runner.run(browsing, QUESTION)
            tools = [
                CodeInterpreterTool(tool_config={"type": "code_interpreter", "container": {"type": "auto"}})
            ]
            coding = Agent(name="Coder", instructions="Compute.", tools=tools, model=model)
            computed = await Runner.run(coding, "Please compute 6*7") if _sandbox_ok() else None
            return browsed, computed

    browsed, computed = asyncio.run(go())
    assert _volcano_url(corpus_dir) in browsed.final_output
    hosted = [item.raw_item.type for item in browsed.new_items if item.type == "tool_call_item"]
    assert hosted == ["web_search_call"] * 3
    if computed is not None:
        assert computed.final_output == "The result is 42."


def _sandbox_ok() -> bool:
    from tests.tools.sandbox_support import sandbox_problem

    return sandbox_problem() is None


def test_a_chat_client_with_no_tool_code_gets_a_browsed_answer(client, corpus_dir):
    messages = [{"role": "user", "content": QUESTION}]
    whole = client.chat.completions.create(model=MODEL, messages=messages)
    message = whole.choices[0].message
    url = _volcano_url(corpus_dir)
    assert message.content == f"The page says it about Iceland  ([Volcanoes of Iceland]({url})) ."
    assert whole.choices[0].finish_reason == "stop"
    (annotation,) = message.annotations
    assert annotation.url_citation.url == url
    span = message.content[annotation.url_citation.start_index : annotation.url_citation.end_index]
    assert span == f" ([Volcanoes of Iceland]({url})) "
    calls = message.model_extra["server_tool_calls"]
    assert [c["type"] for c in calls] == ["browser.search", "browser.open", "browser.find"]
    assert calls[1]["output"].startswith("[1] Volcanoes of Iceland") and calls[1]["status"] == "completed"
    assert whole.usage.prompt_tokens > 4 * 200  # four turns' prompts
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == message.content
    streamed_calls = [
        x
        for c in chunks
        if c.choices
        for x in (c.choices[0].delta.model_extra or {}).get("server_tool_calls", [])
    ]
    assert len(streamed_calls) == 3


def test_ollama_chat_gets_a_browsed_answer(app, corpus_dir):
    body = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}], "stream": False}
    answer = httpx.post(app.url + "/api/chat", json=body, timeout=60).json()
    assert answer["message"]["content"].endswith(f"([Volcanoes of Iceland]({_volcano_url(corpus_dir)})) .")
    assert [c["type"] for c in answer["message"]["server_tool_calls"]] == [
        "browser.search",
        "browser.open",
        "browser.find",
    ]
    assert answer["done"] is True and answer["done_reason"] == "stop"


@needs_sandbox()
def test_sandbox_attacks_through_the_server_end_in_tool_errors_and_it_stays_up(client, app, index_path):
    attacks = {
        "fork bomb": "import os\nwhile True:\n    os.fork()",
        "endless loop": "while True:\n    pass",
        "10 GB": "x = bytearray(10 * 1024**3)",
        "100 MB of output": "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1 << 20))",
        "the index": f"print(open({str(index_path)!r}, 'rb').read()[:20])",
        "the store": f"print(open({app.settings.responses_store!r}, 'rb').read()[:20])",
    }
    for name, code in attacks.items():
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"run: {code}"}]
        )
        message = reply.choices[0].message
        (call,) = message.model_extra["server_tool_calls"]
        assert call["status"] == "failed", name
        assert "Error" in call["output"], (name, call["output"][-300:])
        assert message.content.startswith("The code printed:")
        assert httpx.get(app.url + "/health", timeout=10).status_code == 200
    ok = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Please compute 2+3"}]
    )
    assert ok.choices[0].message.content == "The result is 5."


@pytest.mark.slow
def test_a_restart_in_the_middle_of_a_tool_loop_loses_no_call(tmp_path, index_path):
    """Two server processes on one store: the first finishes a response and is killed (SIGKILL) in
    the middle of the next one's tool loop; the second has every call made so far, and the finished
    response's chain continues with all of its tool results."""
    from tests.tools.tool_harness import serve

    store, port = tmp_path / "responses.sqlite3", free_port()
    base = f"http://127.0.0.1:{port}/v1"
    request = {"model": MODEL, "input": QUESTION, "tools": [{"type": "web_search"}]}
    with serve(store, index_path, port) as process:
        done = httpx.post(base + "/responses", json=request, timeout=60).json()
        seen: list[dict] = []
        with httpx.stream(
            "POST", base + "/responses", json={**request, "stream": True}, timeout=60
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if seen[-1]["type"] == "response.web_search_call.completed":
                        process.send_signal(signal.SIGKILL)  # mid-loop: one call done, more to come
                        break
        process.wait(timeout=10)
    with serve(store, index_path, port):
        kept = httpx.get(f"{base}/responses/{seen[0]['response']['id']}", timeout=10).json()
        assert kept["status"] == "failed"  # the restarted server marks the unfinished response
        (call,) = [item for item in kept["output"] if item["type"] == "web_search_call"]
        assert call["status"] == "completed" and call["action"]["query"] == QUESTION
        assert call["harmony"]["output"].startswith("[0] " + QUESTION)
        follow = {**request, "input": "How many tool results do you see?", "previous_response_id": done["id"]}
        answer = httpx.post(base + "/responses", json=follow, timeout=60).json()
        assert answer["output"][-1]["content"][0]["text"] == "I see 3 tool results."
