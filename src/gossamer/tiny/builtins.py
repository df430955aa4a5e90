"""Turns with the server's built-in tools for gossamer-tiny: browser and python (issue 18).

Rendered exactly as the server renders them (docs/builtin-tools.md): the system message holds the
tools' descriptions as the server's ToolBox offers them, calls go on `analysis` to
`browser.search` / `browser.open` / `browser.find` or `python` (code), and the tool's messages are
what the server's own tools answer: the real BrowserTool over a real local index (SQLite FTS5) of
this conversation's pages, and for python the stdout of the `print` the model writes.

The model writes a call's recipient beside the role (`<|start|>assistant to=browser.search
<|channel|>analysis<|message|>`), as history renders it and as it writes function calls; the
server parses both places, and so the training sequence of a turn stays one prefix-stable run.

A browser turn: search for the user's question, open the result about the question's city (or
answer that nothing was found when there is none), sometimes find the fact's word in the page,
then answer with the fact's sentence and a citation of the opened page's line, `【1†L6】`.
A python turn: print the requested expression, answer with what it printed.
"""

from __future__ import annotations

import ast
import asyncio
import fcntl
import json
import operator
import random
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from openai_harmony import Message as HMessage

from gossamer.harmony.conversation import ToolNamespace
from gossamer.tiny.builtin_phrasing import FACT_RANGES, FACTS, NOTHING_FOUND, PYTHON_TASKS
from gossamer.tiny.data import EFFORTS, Episode, _assistant, _norm, roughen, sample_episode
from gossamer.tiny.phrasing import SMALL_TALK
from gossamer.tiny.tools import CITIES
from gossamer.tiny.turn_phrasing import OUT_OF_SCOPE_ANSWER

DOCS_DIR = Path("/tmp/gossamer-tiny-docs")  # fixed: its path is in every page's URL the model reads
PAGES_PER_WORLD = 8
SEARCH_TOPN = 3
FIND_SHARE = 0.3  # browser turns that `find` the fact's word before answering
PYTHON_WALL_S = 20  # the server's default --python-timeout-s, as the description states it


# ---- python, as far as the model's code goes -----------------------------------------------------

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Pow: operator.pow}


def _value(node: ast.AST) -> object:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand)  # type: ignore[operator]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 10**6):  # type: ignore[arg-type]
            raise ValueError("too large")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.List):
        return [_value(e) for e in node.elts]
    calls = {"sorted": sorted, "sum": sum, "len": len, "max": max, "min": min}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
        function = calls.get(node.func.id)
        if function is not None:
            return function(_value(node.args[0]))  # type: ignore[operator]
    raise ValueError("unsupported")


def run_python(code: str) -> str:
    """What the server's python tool answers for `code`, for the code this model writes: `print`
    of arithmetic or of a list task. Anything else answers as Python would fail on it; nothing is
    executed."""
    try:
        tree = ast.parse(code.strip())
        (stmt,) = tree.body
        assert isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
        assert isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "print"
        return "".join(f"{_value(arg)}\n" for arg in stmt.value.args) or "\n"
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg}\nError: SyntaxError: {exc.msg}."
    except (AssertionError, ValueError, TypeError, ZeroDivisionError, OverflowError):
        return "Error: the code could not run here.\n"


# ---- the browser's world --------------------------------------------------------------------------


@dataclass
class World:
    """The pages one or more conversations search: a fact page for each of a few cities."""

    facts: dict[str, dict[str, int]]  # city -> fact -> number
    order: dict[str, list[str]]  # city -> its facts in page order
    folder: Path
    index: object = None  # gossamer.tools.browser.index.LocalIndex

    def page_line(self, city: str, fact: str) -> int:
        """The line of the page view that holds `fact` (title, blank, then a fact per paragraph)."""
        return 2 + 2 * self.order[city].index(fact)

    def sentence(self, city: str, fact: str) -> str:
        return FACTS[fact][0].format(city=city, n=self.facts[city][fact])

    def browser(self):
        from gossamer.tools.browser.backends.local import LocalBackend
        from gossamer.tools.browser.tool import BrowserTool

        return BrowserTool(LocalBackend(self.index), None)  # type: ignore[arg-type]


def _slug(city: str) -> str:
    return city.lower().replace(" ", "-")


def make_world(rng: random.Random, cities: list[str] | None = None) -> World:
    """Fresh pages for `cities` (default: PAGES_PER_WORLD random ones), indexed."""
    from gossamer.tools.browser.index import LocalIndex

    cities = cities or rng.sample(CITIES, PAGES_PER_WORLD)
    facts, order = {}, {}
    for city in cities:
        facts[city] = {f: rng.randint(lo, hi) * k for f, (lo, hi, k) in FACT_RANGES.items()}
        order[city] = rng.sample(list(FACTS), len(FACTS))
    world = World(facts, order, DOCS_DIR / "srv" / "docs")
    DOCS_DIR.mkdir(parents=True, exist_ok=True)
    # The folder is shared (its path is in the pages' URLs): one process at a time writes and
    # indexes it; the index keeps the pages, the files are not needed after.
    with open(DOCS_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(world.folder, ignore_errors=True)
        world.folder.mkdir(parents=True)
        for city in cities:
            body = "\n\n".join(world.sentence(city, f) for f in order[city])
            (world.folder / f"{_slug(city)}.md").write_text(f"# Facts about {city}\n\n{body}\n")
        world.index = LocalIndex(":memory:")
        world.index.add(world.folder)  # type: ignore[attr-defined]
    return world


def namespaces(tools: tuple[str, ...], world: World | None) -> dict[str, ToolNamespace]:
    """The built-in tools' descriptions as the server's ToolBox.offer puts them in the system message."""
    from gossamer.tools.python.tool import description

    out = {}
    if "browser" in tools:
        assert world is not None
        out["browser"] = world.browser().namespace()
    if "python" in tools:
        out["python"] = ToolNamespace("python", description(PYTHON_WALL_S))
    return out


# ---- episodes -----------------------------------------------------------------------------------


@dataclass
class BuiltinEpisode:
    """One user turn with built-in tools offered (`kind`: fact, missing, python, talk, no_browser)."""

    kind: str
    effort: str
    tools: tuple[str, ...]  # "browser", "python"
    user: str
    city: str | None = None
    fact: str | None = None
    code: str | None = None
    answer_template: str = "The result is {out}."
    direct_answer: str | None = None
    world: World | None = None
    find: bool = False  # look the fact's word up in the opened page before answering
    current_date: str | None = None
    episode: Episode | None = None  # kind "function": the function-tool request


KINDS = {"fact": 44, "missing": 8, "python": 24, "talk": 7, "no_browser": 7, "function": 10}
PAGES_REUSED = 8  # training conversations that search the same pages
ROUGHEN_QUESTION = 0.3  # share of training questions typed carelessly (augment 3 and up)


def sample_builtin(
    rng: random.Random,
    held_out: bool = False,
    world: World | None = None,
    kind: str | None = None,
    augment: int = 0,
) -> BuiltinEpisode:
    """A request with built-in tools offered; `world` is the browser's pages (made when needed).
    `function`: a function-tool request (data.sample_episode) while built-in tools are on too."""
    kind = kind or rng.choices(list(KINDS), list(KINDS.values()))[0]
    effort = rng.choice(tuple(EFFORTS))
    pick = 1 if held_out else 0
    if kind == "function":
        episode = sample_episode(rng, held_out=held_out, augment=augment)
        tools = rng.choice((("browser",), ("python",), ("browser", "python")))
        ep = BuiltinEpisode(kind, episode.effort, tools, episode.user, episode=episode)
        ep.world = world or (make_world(rng) if "browser" in tools else None)
        return ep
    if kind in ("fact", "missing", "no_browser"):
        world = world or make_world(rng)
        fact = rng.choice(list(FACTS))
        city = rng.choice(
            list(world.facts) if kind != "missing" else [c for c in CITIES if c not in world.facts]
        )
        user = rng.choice(FACTS[fact][2][pick]).format(city=city)
        if not held_out and augment >= 3 and rng.random() < ROUGHEN_QUESTION:
            rough = roughen(user, {FACTS[fact][1], *city.lower().split()}, rng)
            held = {_norm(t.format(city=city)) for t in FACTS[fact][2][1]}
            user = user if _norm(rough) in held else rough
        tools = ("browser",) if kind == "no_browser" else rng.choice((("browser",), ("browser", "python")))
        if kind == "no_browser":
            tools = rng.choice(((), ("python",)))
            ep = BuiltinEpisode(kind, effort, tools, user, city, fact, direct_answer=OUT_OF_SCOPE_ANSWER)
        else:
            ep = BuiltinEpisode(kind, effort, tools, user, city, fact, find=rng.random() < FIND_SHARE)
        ep.world = world
        return ep
    if kind == "python":
        task = rng.choice(list(PYTHON_TASKS))
        code, (train, held) = PYTHON_TASKS[task]
        if task == "sort":
            slots = {"items": ", ".join(str(rng.randint(1, 999)) for _ in range(rng.randint(3, 6)))}
        elif task == "power":
            slots = {"a": rng.randint(2, 19), "b": rng.randint(5, 30)}
        else:
            slots = {"a": rng.randint(100, 99999), "b": rng.randint(100, 9999), "c": rng.randint(10, 9999)}
        tools = rng.choice((("python",), ("browser", "python")))
        ep = BuiltinEpisode(kind, effort, tools, rng.choice(held if held_out else train).format(**slots))
        ep.code = code.format(**slots)
        ep.answer_template = "The sorted list is {out}." if task == "sort" else "The result is {out}."
        ep.world = world or (make_world(rng) if "browser" in tools else None)
        return ep
    _, train, held, answer = rng.choice(SMALL_TALK)
    tools = rng.choice((("browser",), ("python",), ("browser", "python")))
    ep = BuiltinEpisode("talk", effort, tools, rng.choice(held if held_out else train), direct_answer=answer)
    ep.world = world or (make_world(rng) if "browser" in tools else None)
    return ep


# ---- the assistant's script, with the tools answering -------------------------------------------


def builtin_call(recipient: str, body: str) -> HMessage:
    msg = _assistant("analysis", body).with_recipient(recipient)
    return msg.with_content_type("code") if recipient == "python" else msg


def _thought(ep: BuiltinEpisode, step: str) -> str:
    low = ep.effort == "low"
    return {
        "search": "Search for it." if low else "I should search the documents for this.",
        "open": "Open the result about {city}." if low else "The result about {city} looks right. Open it.",
        "find": "Find {word} in the page." if low else "Let me find {word} in the page.",
        "cite": "Answer and cite the line." if low else "I found it and will cite the line.",
        "nothing": "Nothing about {city}. Say so." if low else "No result is about {city}. I will say so.",
        "python": "Compute with python." if low else "I should compute this with python.",
        "printed": "Answer with the output." if low else "Python gave the result. Answer with it.",
        "talk": "Small talk. Reply politely." if low else "This is small talk. No tool is needed.",
        "no_browser": "No browser for that. Say so." if low else "I cannot look that up here. Say so.",
    }[step].format(city=ep.city, word=FACTS[ep.fact][1] if ep.fact else "")


def _run_browser(browser, recipient: str, args: dict) -> tuple[str, dict]:
    from gossamer.tools.protocol import ToolCall

    result = asyncio.run(browser.run(ToolCall("call", recipient, json.dumps(args))))
    return result.output, result.details


def builtin_script(ep: BuiltinEpisode) -> list[list[HMessage]]:
    """The turn as sampling steps (data.script's shape): each call step ends with the tool's message."""
    if ep.kind in ("talk", "no_browser"):
        return [[_assistant("analysis", _thought(ep, ep.kind)), _assistant("final", ep.direct_answer or "")]]
    if ep.kind == "python":
        assert ep.code is not None
        out = run_python(ep.code)
        result = _tool_message("python", out)
        answer = ep.answer_template.format(out=out.strip())
        return [
            [_assistant("analysis", _thought(ep, "python")), builtin_call("python", ep.code), result],
            [_assistant("analysis", _thought(ep, "printed")), _assistant("final", answer)],
        ]
    assert ep.world is not None and ep.city and ep.fact
    browser = ep.world.browser()
    steps = []
    search = {"query": ep.user, "topn": SEARCH_TOPN}
    output, details = _run_browser(browser, "browser.search", search)
    steps.append(
        [
            _assistant("analysis", _thought(ep, "search")),
            builtin_call("browser.search", json.dumps(search)),
            _tool_message("browser.search", output),
        ]
    )
    urls = [s["url"] for s in details["action"]["sources"]]
    target = f"{_slug(ep.city)}.md"
    hit = next((i for i, url in enumerate(urls) if url.endswith("/" + target)), None)
    if hit is None:
        return [*steps, [_assistant("analysis", _thought(ep, "nothing")), _assistant("final", NOTHING_FOUND)]]
    opened = {"cursor": 0, "id": hit}
    output, details = _run_browser(browser, "browser.open", opened)
    page_cursor = details["cursor"]
    steps.append(
        [
            _assistant("analysis", _thought(ep, "open")),
            builtin_call("browser.open", json.dumps(opened)),
            _tool_message("browser.open", output),
        ]
    )
    if ep.find:
        find = {"pattern": FACTS[ep.fact][1]}
        output, _ = _run_browser(browser, "browser.find", find)
        steps.append(
            [
                _assistant("analysis", _thought(ep, "find")),
                builtin_call("browser.find", json.dumps(find)),
                _tool_message("browser.find", output),
            ]
        )
    line = ep.world.page_line(ep.city, ep.fact)
    answer = f"{ep.world.sentence(ep.city, ep.fact).removesuffix('.')} 【{page_cursor}†L{line}】."
    return [*steps, [_assistant("analysis", _thought(ep, "cite")), _assistant("final", answer)]]


def _tool_message(recipient: str, output: str) -> HMessage:
    from openai_harmony import Author, Role

    return (
        HMessage.from_author_and_content(Author.new(Role.TOOL, recipient), output)
        .with_channel("analysis")
        .with_recipient("assistant")
    )


def builtin_dialogue(ep: BuiltinEpisode):
    """The request as tiny.served renders it: built-in tools, and a function request's own context."""
    from gossamer.tiny.dialogue import Dialogue
    from gossamer.tiny.served import episode_dialogue

    builtins = namespaces(ep.tools, ep.world)
    if ep.episode is not None:
        return replace(episode_dialogue(ep.episode), builtins=builtins)
    return Dialogue(ep.effort, ep.current_date, None, [], builtins=builtins)


def render_builtin(ep: BuiltinEpisode, enc, rng: random.Random) -> tuple[list[int], list[int]]:
    """Token ids and loss mask of the turn, rendered as the server renders it (tiny.served)."""
    from gossamer.harmony.conversation import Message
    from gossamer.tiny.served import render_dialogue, render_turn

    if ep.episode is not None:
        return render_dialogue(builtin_dialogue(ep), enc, rng)
    history = [Message("user", ep.user)]
    return render_turn(builtin_dialogue(ep), history, builtin_script(ep), enc, "call_b")
