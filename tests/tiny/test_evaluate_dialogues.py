"""The conversation evaluation scores what it should: a model that does everything right scores
100% on every set, and the plays send back what a client sends (reasoning dropped when asked)."""

from __future__ import annotations

import random

import pytest

from gossamer.tiny.data import _assistant, tool_call_message
from gossamer.tiny.evaluate_dialogues import DialoguePlay, build_set, report
from gossamer.tiny.served import addressed, written_ids
from gossamer.tiny.tools import answer_sentence


def _perfect(enc, play: DialoguePlay) -> list[int]:
    """What a perfect model writes next in `play`."""
    ep = play.d.turns[play.turn]
    if len(play.results) < len(ep.calls):
        call = ep.calls[len(play.results)]
        produced = [_assistant("analysis", "Call it."), tool_call_message(call.schema.name, call.arguments)]
        (produced,) = addressed(play.d, [produced])  # to its MCP namespace, if a server offers it
        return written_ids(enc, produced, ends_turn=False)
    if ep.calls:
        answer = " ".join(
            answer_sentence(c.schema.kind, c.slots, play.results[i]) for i, c in enumerate(ep.calls)
        )
    else:
        answer = play.last_answer if ep.no_call_reason == "repeat" else ep.direct_answer or ""
    return written_ids(enc, [_assistant("analysis", "Answer."), _assistant("final", answer)], ends_turn=True)


def _play(enc, plays: list[DialoguePlay], write) -> None:
    for _ in range(30):
        for p in plays:
            if not p.done:
                p.consume(enc, write(enc, p))


@pytest.mark.parametrize("name", ["multi", "dropped", "scope", "mcp"])
def test_a_perfect_model_scores_everything(encoding, name) -> None:
    plays = build_set(name, 40, random.Random(7))
    _play(encoding, plays, _perfect)
    out = report(name, plays)
    shares = {k: v for k, v in out.items() if isinstance(v, float)}
    assert shares and all(v == 1.0 for v in shares.values()), shares


def test_a_model_that_never_answers_fails_every_conversation(encoding) -> None:
    plays = build_set("multi", 20, random.Random(3))
    mute = [*encoding.encode("<|channel|>analysis<|message|>Hm.<|end|>", allowed_special="all")]
    _play(encoding, plays, lambda enc, p: mute)  # reasoning only, no message: the symptom
    out = report("multi", plays)
    assert out["every_turn_answered"] == 0.0 and out["follow_up_right_tool"] == 0.0


def test_a_dropping_client_sends_calls_back_without_reasoning(encoding) -> None:
    (play,) = build_set("dropped", 1, random.Random(1))
    play.consume(encoding, _perfect(encoding, play))
    prompt = encoding.decode_utf8(play.prompt(encoding))
    turn = prompt[prompt.rindex("<|start|>user") :]
    assert "to=functions." in turn and "<|channel|>analysis" not in turn


def test_a_call_to_functions_for_a_tool_a_server_offers_is_the_wrong_tool(encoding) -> None:
    plays = [p for p in build_set("mcp", 20, random.Random(5)) if p.d.turns[0].calls and p.d.mcp]
    play = plays[0]
    call = play.d.turns[0].calls[0]
    if call.schema.name not in play.d.mcp:
        pytest.skip("this draw keeps the first call in functions")
    wrong = [_assistant("analysis", "Call it."), tool_call_message(call.schema.name, call.arguments)]
    play.consume(encoding, written_ids(encoding, wrong, ends_turn=False))
    assert play.outcomes[0].calls == [(call.schema.name, call.arguments)]
    assert play.history[-1].content == '{"error": "invalid request"}'
