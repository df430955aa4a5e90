"""Property tests: any id sequence decodes without raising, and streaming in any chunking folds to
exactly the non-streaming result."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai_harmony import Role

from gossamer.harmony.events import Finished, FinishReason, fold
from gossamer.harmony.header import Kind, parse_header
from gossamer.harmony.stream import StreamDecoder, decode_completion
from gossamer.harmony.tokenizer import load_harmony_encoding
from tests.harmony.helpers import counter_ids, ids

SPECIALS = [199998, 199999, *range(200000, 200020), 201087]
OUT_OF_RANGE = st.one_of(st.integers(-(2**31), -1), st.integers(201088, 2**31))
FRAGMENTS = [
    "<|start|>assistant",
    "<|channel|>analysis",
    "<|channel|>commentary",
    "<|channel|>final",
    " to=functions.get_weather",
    " to=functions.web-search",
    " to=browser.search",
    " to=python",
    " <|constrain|>json",
    "<|message|>",
    '{"city": "Zürich"}',
    "héllo 😀 wörld",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|start|>functions.get_weather to=assistant",
    "––commentary?",
    "<|channel|>analysis<|message|>Thinking it over.<|end|><|start|>assistant",
    "<|channel|>final<|message|>The answer is 42",
    "<|channel|>commentary<|message|>Checking first.<|end|><|start|>assistant",
    '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"a": 1}',
    " plain text",
]
FRAGMENT_IDS = [ids(f) for f in FRAGMENTS]

token = st.one_of(
    st.integers(0, 199997),
    st.sampled_from(SPECIALS),
    OUT_OF_RANGE,
)
fragment = st.sampled_from(FRAGMENT_IDS)
# Mostly harmony-shaped pieces (to reach deep states), with arbitrary ids mixed in.
sequence = st.lists(st.one_of(fragment, fragment, fragment, st.lists(token, max_size=3)), max_size=40).map(
    lambda parts: [t for part in parts for t in part]
)
reasons = st.sampled_from([None, FinishReason.LENGTH, FinishReason.ABORT, FinishReason.STOP])
prefills = st.sampled_from(
    [None, [], ids("<|start|>assistant to=functions"), ids("<|channel|>final<|message|>")]
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chunked(token_ids: list[int], cuts: list[int]) -> list[list[int]]:
    points = sorted({c % (len(token_ids) + 1) for c in cuts})
    bounds = [0, *points, len(token_ids)]
    return [token_ids[a:b] for a, b in itertools.pairwise(bounds)]


@SETTINGS
@given(sequence, st.lists(st.integers(0, 10_000), max_size=12), reasons, prefills, st.booleans())
def test_streamed_events_fold_to_the_non_streaming_result(
    token_ids, cuts, reason, prefill, stop_after_message
):
    kwargs = {
        "prefill_ids": prefill,
        "stop_after_message": stop_after_message,
        "tool_names": ("get_weather",),
    }
    decoder = StreamDecoder(call_id_factory=counter_ids(), **kwargs)
    events = []
    for chunk in chunked(token_ids, cuts):
        events += decoder.feed(chunk)
    events += decoder.finish(reason)
    assert decoder.finish(reason) == []  # finishing twice adds nothing

    expected = decode_completion(token_ids, reason=reason, call_id_factory=counter_ids(), **kwargs)
    assert fold(events) == expected

    finished = [e for e in events if isinstance(e, Finished)]
    assert len(finished) == 1 and events[-1] is finished[0]
    assert 0 <= expected.reasoning_tokens <= expected.output_tokens <= len(token_ids)
    for call in expected.tool_calls:
        assert "<|" not in call.name and call.call_id.startswith("call_")


@SETTINGS
@given(st.lists(token, max_size=200), reasons)
def test_any_ids_never_raise(token_ids, reason):
    out = decode_completion(token_ids, reason=reason)
    assert out.finish_reason is not None


@SETTINGS
@given(sequence, st.integers(0, 200))
def test_truncation_anywhere_never_raises_and_reports_length(token_ids, cut):
    decoder = StreamDecoder()
    events = decoder.feed(token_ids[:cut]) + decoder.finish(FinishReason.LENGTH)
    out = fold(events)
    ended_itself = decoder.is_finished and out.finish_reason in (FinishReason.STOP, FinishReason.TOOL_CALLS)
    assert ended_itself or out.finish_reason is FinishReason.LENGTH


HEADER_PIECES = [
    "assistant",
    " to=",
    "functions.",
    "get_weather",
    "browser.search",
    "<|channel|>",
    "<|constrain|>",
]
HEADER_PIECES += [
    "commentary",
    "analysis",
    "final",
    "json",
    "code",
    "––",
    "?",
    " ",
    '"',
    ":",
    "user",
    "<|start|>",
]


@SETTINGS
@given(st.one_of(st.text(max_size=80), st.lists(st.sampled_from(HEADER_PIECES), max_size=12).map("".join)))
def test_header_parser_never_raises_and_names_are_clean(text):
    header = parse_header(text, ("get_weather",))
    assert header.kind in Kind
    if header.kind is Kind.FUNCTION_CALL:
        assert header.name and all(c.isalnum() or c in "_-." for c in header.name)
    assert header.channel in (None, "analysis", "commentary", "final")


# -- oracle: on well-formed output our decoder agrees with openai-harmony's own parser ------------

plain_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="<|>"),
    min_size=1,
    max_size=30,
)
message = st.one_of(
    st.tuples(st.just("analysis"), st.none(), plain_text),
    st.tuples(st.just("commentary"), st.none(), plain_text),
    st.tuples(st.just("commentary"), st.sampled_from(["get_weather", "web-search", "lookup_v2"]), plain_text),
    st.tuples(st.just("final"), st.none(), plain_text),
)


@SETTINGS
@given(st.lists(message, min_size=1, max_size=5))
def test_agrees_with_openai_harmony_on_well_formed_output(messages):
    parts = []
    for channel, function, text in messages:
        recipient = f" to=functions.{function} <|constrain|>json" if function else ""
        parts.append(f"<|start|>assistant<|channel|>{channel}{recipient}<|message|>{text}<|end|>")
    completion = ids("".join(parts)[len("<|start|>assistant") :])
    encoding = load_harmony_encoding()
    oracle = encoding.parse_messages_from_completion_tokens(completion, Role.ASSISTANT)

    out = decode_completion(completion, call_id_factory=counter_ids())
    texts = {"analysis": "", "commentary": "", "final": ""}
    calls = []
    for m in oracle:
        if m.recipient:
            calls.append((m.recipient.removeprefix("functions."), m.content[0].text))
        else:
            texts[m.channel] += m.content[0].text
    assert (out.reasoning, out.preamble, out.content) == (
        texts["analysis"],
        texts["commentary"],
        texts["final"],
    )
    assert [(c.name, c.arguments) for c in out.tool_calls] == calls
