"""Built-in tool turns for gossamer-tiny: the server's system message and tools, calls the server
parses, citations of the line that holds the fact, python's printed value, and an evaluation that
gives a perfect model full marks."""

from __future__ import annotations

import random
import subprocess
import sys

from openai_harmony import Role

from gossamer.tiny.builtin_phrasing import FACTS, PYTHON_TASKS
from gossamer.tiny.builtins import builtin_script, make_world, render_builtin, run_python, sample_builtin
from gossamer.tiny.data import _norm
from gossamer.tiny.evaluate_builtins import CITATION, build_builtin_set, builtin_report
from gossamer.tiny.served import written_ids

CALL = 200012


def test_the_system_message_is_the_servers(encoding) -> None:
    rng = random.Random(1)
    ep = sample_builtin(rng, kind="fact")
    while ep.tools != ("browser", "python"):
        ep = sample_builtin(rng, kind="fact", world=ep.world)
    text = encoding.decode_utf8(render_builtin(ep, encoding, rng)[0])
    system = text[: text.index("<|end|>")]
    # As docs/builtin-tools.md shows it (the server's BrowserTool and PythonTool descriptions).
    assert "# Tools\n\n## browser\n\n// Tool for browsing." in system
    assert "// sources=local documents\nnamespace browser {" in system
    assert "## python\n\nUse this tool to execute Python code in your chain of thought." in system
    assert "It has no internet access and times out after 20 seconds." in system


def test_browser_turns_search_open_and_cite_the_facts_line(encoding) -> None:
    rng = random.Random(2)
    world = make_world(rng)
    found = 0
    for _ in range(40):
        ep = sample_builtin(rng, world=world, kind=rng.choice(("fact", "missing")), augment=3)
        ids, _ = render_builtin(ep, encoding, rng)
        text = encoding.decode_utf8(ids)
        assert "<|start|>assistant to=browser.search<|channel|>analysis<|message|>" in text
        steps = builtin_script(ep)
        for step in steps[:-1]:  # each call step is one trained span ending on <|call|>
            tokens = written_ids(encoding, step[:-1], ends_turn=False)
            assert tokens[-1] == CALL
            (_, call) = encoding.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)
            assert call.channel == "analysis" and call.recipient.startswith("browser.")
        final = steps[-1][-1].content[0].text
        if ep.kind == "missing":
            assert "browser.open" not in text and final == "I found nothing about that."
            continue
        if "browser.open" not in text:  # the search did not bring the city's page up
            continue
        found += 1
        ((cursor, line, _),) = CITATION.findall(final)
        view = text[text.index(f"[{cursor}] Facts about {ep.city}") :]
        sentence = ep.world.sentence(ep.city, ep.fact)
        assert f"L{line}: {sentence}" in view.split("<|end|>")[0].split("\n")
        assert final.startswith(sentence.removesuffix("."))
    assert found >= 15


def test_python_prints_what_python_prints() -> None:
    rng = random.Random(3)
    codes = []
    for _ in range(40):
        ep = sample_builtin(rng, kind="python")
        codes.append(ep.code)
    real = subprocess.run(
        [sys.executable, "-c", "\n".join(codes)], capture_output=True, text=True, check=True
    ).stdout
    assert "".join(run_python(code) for code in codes) == real
    assert run_python("import os").startswith("Error") and run_python("print(").startswith("SyntaxError")


def test_held_out_questions_never_train() -> None:
    held = {_norm(t) for _, _, (_, h) in FACTS.values() for t in h}
    held |= {_norm(t) for _, (_, h) in PYTHON_TASKS.values() for t in h}
    rng = random.Random(4)
    world = make_world(rng)
    for _ in range(400):
        ep = sample_builtin(rng, world=world, augment=5)
        for city in world.facts:
            user = _norm(ep.user.replace(city, "{city}"))
            assert user not in held


def _perfect(enc, play) -> list[int]:
    """What a perfect model writes next: the script's step (the tools answer as in training)."""
    steps = builtin_script(play.ep)
    step = steps[play.steps]
    last = play.steps == len(steps) - 1
    return written_ids(enc, step if last else step[:-1], ends_turn=last)


def test_a_perfect_model_scores_every_builtin_measure(encoding) -> None:
    plays = [p for p in build_builtin_set(40, random.Random(5)) if p.ep.kind != "function"]
    for _ in range(6):
        for p in plays:
            if not p.done:
                p.consume(encoding, _perfect(encoding, p))
    out = builtin_report(plays)
    shares = {k: v for k, v in out.items() if isinstance(v, float)}
    # A fact whose page the search did not bring up is answered "nothing found": not a citation.
    misses = [p for p in plays if p.ep.kind == "fact" and not p.scores()["opened_right"]]
    assert not misses or all(p.outcomes[0].final == "I found nothing about that." for p in misses)
    assert out["num_fact"] > 5 and out["num_python"] > 5
    assert shares["malformed_calls"] == 0.0
    assert all(v == 1.0 for k, v in shares.items() if k != "malformed_calls" and not k.startswith("fact_")), (
        shares
    )
