"""The Conversations API and `conversation` on Responses, driven by the official openai SDK.

The server is the real app on 127.0.0.1 over the scripted gpt-oss engine (conftest.py): every
object the SDK gets back is also validated against OpenAI's OpenAPI description, and what the
engine was shown (the rendered prompt) proves that a conversation's items are the next turn's
context.
"""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from gossamer.harmony.tokenizer import decode_text
from gossamer.server.settings import ServerSettings
from gossamer.testing.scripted_engine import ScriptedEngine
from tests.server.conftest import GREETING, MODEL_NAME, LiveApp, gpt_oss_script, start_app
from tests.spec_validation import validate

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def app():
    # Slow enough (10 ms a step) for a long answer to be running while the test acts on it.
    live = start_app(
        ScriptedEngine(gpt_oss_script, max_context_length=4096, tokens_per_step=2, step_delay_s=0.01)
    )
    yield live
    live.stop()


@pytest.fixture
def client(app):
    with openai.OpenAI(base_url=app.base_url, api_key="unused", max_retries=0) as sdk:
        yield sdk


def _raw(app: LiveApp, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, app.base_url + path, timeout=30, **kwargs)


def _items(client: openai.OpenAI, conversation_id: str) -> list[dict]:
    page = client.conversations.items.list(conversation_id, order="asc", limit=100)
    items = [item.model_dump(exclude_unset=True) for item in page.data]
    for item in items:
        validate(item, "ConversationItem")
    return items


def _texts(items: list[dict]) -> list[tuple[str, str]]:
    """(type or role, text) of each item, for comparing whole conversations at a glance."""
    out = []
    for item in items:
        if item["type"] == "message":
            out.append((item["role"], "".join(part["text"] for part in item["content"])))
        elif item["type"] == "reasoning":
            out.append(("reasoning", item["content"][0]["text"]))
        else:
            out.append((item["type"], item.get("arguments") or item.get("output") or ""))
    return out


def test_conversation_lifecycle_with_the_sdk(app, client):
    created = client.conversations.create(
        metadata={"title": "Trip"}, items=[{"type": "message", "role": "user", "content": "Hello!"}]
    )
    body = _raw(app, "GET", f"/conversations/{created.id}").json()
    validate(body, "ConversationResource")
    assert body == {
        "id": created.id,
        "object": "conversation",
        "created_at": created.created_at,
        "metadata": {"title": "Trip"},
    }
    assert created.id.startswith("conv_") and abs(created.created_at - time.time()) < 60

    updated = client.conversations.update(created.id, metadata={"title": "Trip to Oslo", "tag": "x"})
    assert updated.metadata == {"title": "Trip to Oslo", "tag": "x"}
    assert client.conversations.retrieve(created.id).metadata == updated.metadata
    validate(
        _raw(app, "POST", f"/conversations/{created.id}", json={"metadata": {}}).json(),
        "ConversationResource",
    )

    added = client.conversations.items.create(
        created.id,
        items=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "How are you?"}]},
            {"type": "message", "role": "assistant", "content": "Fine."},
        ],
    )
    validate(added.model_dump(exclude_unset=True), "ConversationItemList")
    assert [item.role for item in added.data] == ["user", "assistant"]
    assert added.first_id == added.data[0].id and added.last_id == added.data[1].id and not added.has_more

    items = _items(client, created.id)
    assert _texts(items) == [("user", "Hello!"), ("user", "How are you?"), ("assistant", "Fine.")]
    newest_first = client.conversations.items.list(created.id, limit=2)  # default order: desc
    validate(_raw(app, "GET", f"/conversations/{created.id}/items?limit=2").json(), "ConversationItemList")
    assert [item.id for item in newest_first.data] == [items[2]["id"], items[1]["id"]]
    assert newest_first.has_more
    every = list(client.conversations.items.list(created.id, limit=1))  # the SDK pages with `after`
    assert [item.id for item in every] == [item["id"] for item in reversed(items)]

    one = client.conversations.items.retrieve(items[1]["id"], conversation_id=created.id)
    validate(_raw(app, "GET", f"/conversations/{created.id}/items/{one.id}").json(), "ConversationItem")
    assert one.id == items[1]["id"]
    after_delete = client.conversations.items.delete(items[1]["id"], conversation_id=created.id)
    assert after_delete.id == created.id
    assert [item["id"] for item in _items(client, created.id)] == [items[0]["id"], items[2]["id"]]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(items[1]["id"], conversation_id=created.id)

    deleted = client.conversations.delete(created.id)
    assert deleted.deleted and deleted.id == created.id and deleted.object == "conversation.deleted"
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(created.id)
    missing = _raw(app, "DELETE", f"/conversations/{created.id}")
    assert missing.status_code == 404
    validate(missing.json(), "ErrorResponse")


def test_deleted_conversation_body_matches_the_spec(app, client):
    conversation = client.conversations.create()
    validate(_raw(app, "DELETE", f"/conversations/{conversation.id}").json(), "DeletedConversationResource")


def test_responses_on_a_conversation_see_and_extend_it(app, client):
    conversation = client.conversations.create()
    first = client.responses.create(model=MODEL_NAME, input="Hi, I am Ada.", conversation=conversation.id)
    assert first.conversation is not None and first.conversation.id == conversation.id
    validate(_raw(app, "GET", f"/responses/{first.id}").json(), "Response")
    second = client.responses.create(
        model=MODEL_NAME, input="Who am I?", conversation={"id": conversation.id}
    )
    prompt = decode_text(app.engine.requests[-1].prompt_ids)
    assert "Hi, I am Ada." in prompt and GREETING in prompt and "Who am I?" in prompt
    assert second.output_text == GREETING

    items = _items(client, conversation.id)
    assert [kind for kind, _ in _texts(items)] == ["user", "reasoning", "assistant"] * 2
    assert [item["id"] for item in items[1:3]] == [item.id for item in first.output]
    # The response keeps only its own input; the conversation's items are not repeated there.
    assert [item.id for item in client.responses.input_items.list(second.id).data] == [items[3]["id"]]


def test_streamed_turns_are_in_the_conversation_before_the_stream_ends(app, client):
    conversation = client.conversations.create()
    with client.responses.stream(model=MODEL_NAME, input="Hello", conversation=conversation.id) as stream:
        for event in stream:
            if event.type == "response.completed":
                # The terminal event is sent after the turn is stored: a client may act on it at once.
                assert len(_items(client, conversation.id)) == 3
                assert event.response.conversation.id == conversation.id
    assert stream.get_final_response().status == "completed"


def test_background_turns_join_the_conversation(app, client):
    conversation = client.conversations.create()
    queued = client.responses.create(
        model=MODEL_NAME, input="Hello", conversation=conversation.id, background=True
    )
    assert queued.conversation.id == conversation.id
    deadline = time.monotonic() + 30
    while client.responses.retrieve(queued.id).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _texts(_items(client, conversation.id))[-1] == ("assistant", GREETING)


def test_a_background_turn_reads_completed_only_once_it_joined_the_conversation(app, client, monkeypatch):
    # A slow conversation write widens the window between the answer's end and its keeping: a
    # poller that sees `completed` must find the turn in the conversation (once a CI flake).
    conversations = app.server.config.app.state.responses_service.conversations
    append = conversations.append

    def slow_append(*args, **kwargs):
        time.sleep(0.5)
        return append(*args, **kwargs)

    monkeypatch.setattr(conversations, "append", slow_append)
    conversation = client.conversations.create()
    queued = client.responses.create(
        model=MODEL_NAME, input="Hello", conversation=conversation.id, background=True
    )
    deadline = time.monotonic() + 30
    while (status := client.responses.retrieve(queued.id).status) in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status == "completed"
    assert _texts(_items(client, conversation.id))[-1] == ("assistant", GREETING)


def test_a_tool_loop_runs_through_a_conversation(app, client):
    conversation = client.conversations.create()
    call_turn = client.responses.create(
        model=MODEL_NAME, input="What's the weather in Paris?", tools=[WEATHER], conversation=conversation.id
    )
    call = next(item for item in call_turn.output if item.type == "function_call")
    answer = client.responses.create(
        model=MODEL_NAME,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"condition": "sunny"}'}],
        tools=[WEATHER],
        conversation=conversation.id,
    )
    assert answer.output_text == "It is sunny in Paris."
    kinds = [kind for kind, _ in _texts(_items(client, conversation.id))]
    assert kinds == ["user", "reasoning", "function_call", "function_call_output", "reasoning", "assistant"]


def test_refusals_name_the_conversation(app, client):
    conversation = client.conversations.create()
    first = client.responses.create(model=MODEL_NAME, input="Hi", conversation=conversation.id)
    with pytest.raises(openai.BadRequestError) as both:
        client.responses.create(
            model=MODEL_NAME, input="Hi", conversation=conversation.id, previous_response_id=first.id
        )
    assert both.value.body["param"] == "conversation" and "Mutually exclusive" in both.value.body["message"]
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model=MODEL_NAME, input="Hi", conversation="conv_missing")
    assert missing.value.body["param"] == "conversation"
    bad = _raw(app, "POST", "/responses", json={"model": MODEL_NAME, "input": "Hi", "conversation": {"x": 1}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "conversation"
    too_many = _raw(
        app,
        "POST",
        f"/conversations/{conversation.id}/items",
        json={"items": [{"role": "user", "content": "x"}] * 21},
    )
    assert too_many.status_code == 400
    validate(too_many.json(), "ErrorResponse")
    unknown_type = _raw(
        app, "POST", f"/conversations/{conversation.id}/items", json={"items": [{"type": "nope"}]}
    )
    assert unknown_type.status_code == 400 and unknown_type.json()["error"]["param"] == "items[0].type"
    too_much_metadata = _raw(
        app, "POST", "/conversations", json={"metadata": {str(i): "v" for i in range(17)}}
    )
    assert too_much_metadata.status_code == 400
    assert _raw(app, "GET", f"/conversations/{conversation.id}/items?after=msg_nope").status_code == 404


def test_one_response_at_a_time_per_conversation_and_cancel_keeps_the_partial_turn(app, client):
    conversation = client.conversations.create()
    running = client.responses.create(
        model=MODEL_NAME, input="write a long story", conversation=conversation.id, background=True
    )
    with pytest.raises(openai.BadRequestError) as locked:
        client.responses.create(model=MODEL_NAME, input="Hi", conversation=conversation.id)
    assert locked.value.body["code"] == "conversation_locked"
    other = client.conversations.create()  # other conversations are not held up
    assert client.responses.create(model=MODEL_NAME, input="Hi", conversation=other.id).status == "completed"

    time.sleep(0.3)  # some words written
    aborted_before = app.engine.stats().num_aborted
    cancelled = client.responses.cancel(running.id)
    assert cancelled.status == "cancelled" and app.engine.stats().num_aborted == aborted_before + 1
    kinds = _texts(_items(client, conversation.id))
    assert kinds[0] == ("user", "write a long story") and kinds[-1][0] == "assistant"
    assert 0 < len(kinds[-1][1].split()) < 400  # the words written before the stop, not the whole story
    assert (
        client.responses.create(model=MODEL_NAME, input="Hi", conversation=conversation.id).status
        == "completed"
    )


def test_a_stream_the_client_leaves_keeps_its_turn_and_frees_the_conversation(app, client):
    conversation = client.conversations.create()
    with client.responses.stream(
        model=MODEL_NAME, input="write a long story", conversation=conversation.id
    ) as s:
        for event in s:
            if event.type == "response.output_text.delta":
                break  # leaving mid-answer closes the connection
    deadline = time.monotonic() + 10
    while True:  # the server notices the disconnect, keeps the turn and lets the next one in
        try:
            client.responses.create(model=MODEL_NAME, input="Hi", conversation=conversation.id)
            break
        except openai.BadRequestError as exc:
            assert exc.body["code"] == "conversation_locked" and time.monotonic() < deadline
            time.sleep(0.05)
    kinds = [kind for kind, _ in _texts(_items(client, conversation.id))]
    assert kinds[:1] == ["user"] and "assistant" in kinds and kinds[-3:] == ["user", "reasoning", "assistant"]


def test_store_false_responses_still_join_the_conversation(app, client):
    conversation = client.conversations.create()
    response = client.responses.create(
        model=MODEL_NAME, input="Hello", conversation=conversation.id, store=False
    )
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    assert len(_items(client, conversation.id)) == 3


def test_item_references_reach_conversation_items(app, client):
    conversation = client.conversations.create(items=[{"role": "user", "content": "Remember: blue."}])
    item_id = _items(client, conversation.id)[0]["id"]
    client.responses.create(model=MODEL_NAME, input=[{"type": "item_reference", "id": item_id}])
    assert "Remember: blue." in decode_text(app.engine.requests[-1].prompt_ids)


def test_listing_and_search(app, client):
    marker = f"zebra{time.monotonic_ns()}"
    titled = client.conversations.create(metadata={"title": f"About {marker.upper()}s"})
    by_content = client.conversations.create(items=[{"role": "user", "content": f"tell me of {marker}"}])
    unrelated = client.conversations.create(metadata={"title": "Other"})

    listing = _raw(app, "GET", "/conversations", params={"limit": 100}).json()
    ids = [entry["id"] for entry in listing["data"]]
    assert ids[:3] == [unrelated.id, by_content.id, titled.id]  # most recently active first
    for entry in listing["data"]:
        validate({k: v for k, v in entry.items() if k != "updated_at"}, "ConversationResource")
    found = _raw(app, "GET", "/conversations", params={"search": marker}).json()
    assert [entry["id"] for entry in found["data"]] == [by_content.id, titled.id]  # any case, title or text
    assert _raw(app, "GET", "/conversations", params={"search": "100%_"}).json()["data"] == []

    client.conversations.items.create(titled.id, items=[{"role": "user", "content": "bump"}])
    assert _raw(app, "GET", "/conversations", params={"limit": 1}).json()["data"][0]["id"] == titled.id
    first_page = _raw(app, "GET", "/conversations", params={"limit": 2}).json()
    assert first_page["has_more"]
    second_page = _raw(
        app, "GET", "/conversations", params={"limit": 2, "after": first_page["last_id"]}
    ).json()
    assert second_page["data"][0]["id"] not in {entry["id"] for entry in first_page["data"]}


def test_two_keys_never_see_each_others_conversations():
    live = start_app(
        ScriptedEngine(gpt_oss_script, max_context_length=4096), ServerSettings(api_key="alice,bob")
    )
    try:
        alice = openai.OpenAI(base_url=live.base_url, api_key="alice", max_retries=0)
        bob = openai.OpenAI(base_url=live.base_url, api_key="bob", max_retries=0)
        mine = alice.conversations.create(
            metadata={"title": "secret"}, items=[{"role": "user", "content": "pin 1234"}]
        )
        item_id = alice.conversations.items.list(mine.id).data[0].id
        attempts = [
            lambda: bob.conversations.retrieve(mine.id),
            lambda: bob.conversations.update(mine.id, metadata={"title": "mine now"}),
            lambda: bob.conversations.delete(mine.id),
            lambda: bob.conversations.items.list(mine.id),
            lambda: bob.conversations.items.create(mine.id, items=[{"role": "user", "content": "x"}]),
            lambda: bob.conversations.items.retrieve(item_id, conversation_id=mine.id),
            lambda: bob.conversations.items.delete(item_id, conversation_id=mine.id),
            lambda: bob.responses.create(model=MODEL_NAME, input="hi", conversation=mine.id),
            lambda: bob.responses.create(model=MODEL_NAME, input=[{"type": "item_reference", "id": item_id}]),
        ]
        for attempt in attempts:
            with pytest.raises(openai.NotFoundError):
                attempt()
        listed = httpx.get(
            f"{live.base_url}/conversations",
            params={"search": "secret"},
            headers={"Authorization": "Bearer bob"},
        ).json()
        assert listed["data"] == []
        assert alice.conversations.retrieve(mine.id).metadata == {"title": "secret"}
        assert len(alice.conversations.items.list(mine.id).data) == 1
        assert httpx.get(f"{live.base_url}/conversations").status_code == 401
        alice.close()
        bob.close()
    finally:
        live.stop()
