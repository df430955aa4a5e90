"""A scripted gpt-oss that calls MCP servers' tools, for tests of MCP in the tool loop.

`mcp_tool_reply(prompt)` reads the rendered harmony prompt and writes what a well-behaved gpt-oss
would write next (everything after the prefilled `<|start|>assistant`):
- the offered MCP tools are the functions of every developer-message namespace but `functions`
  (`namespace docs { type slow_lookup = (_: { topic: string, }) => any; }`);
- the tools the last user message names (`slow_lookup`, or `docs.slow_lookup`), in the order it
  names them, are called one per turn, each required argument set to the message's last word;
  a message that names none calls the first offered tool;
- once every named tool has answered (a tool message since the user's), the answer quotes each
  result: `docs.slow_lookup said: ...`; with no MCP tool offered it says so.
The shapes are the ones docs/mcp.md gives the trainer of gossamer-tiny.
"""

from __future__ import annotations

import json
import re

from gossamer.engine.protocol import SamplingParams

_USER = re.compile(r"<\|start\|>user<\|message\|>(.*?)<\|end\|>", re.DOTALL)
_NAMESPACE = re.compile(r"^namespace (\w+) \{\n(.*?)^\} // namespace \1", re.DOTALL | re.MULTILINE)
_FUNCTION = re.compile(r"^type ([\w\-]+) = \(_: \{\n(.*?)^\}\) => any;", re.DOTALL | re.MULTILINE)
_NO_ARGS = re.compile(r"^type ([\w\-]+) = \(\) => any;", re.MULTILINE)
_REQUIRED = re.compile(r"^([\w\-]+): ", re.MULTILINE)  # `topic: string,` (`topic?:` is optional)


def offered_tools(prompt: str) -> dict[str, list[str]]:
    """recipient (`docs.slow_lookup`) -> its required arguments, from the developer message."""
    developer = prompt.split("<|start|>developer<|message|>", 1)[1].split("<|end|>", 1)[0] if (
        "<|start|>developer<|message|>" in prompt
    ) else ""
    tools: dict[str, list[str]] = {}
    for namespace, body in _NAMESPACE.findall(developer):
        if namespace == "functions":
            continue
        for name, params in _FUNCTION.findall(body):
            tools[f"{namespace}.{name}"] = _REQUIRED.findall(params)
        for name in _NO_ARGS.findall(body):
            tools[f"{namespace}.{name}"] = []
    return tools


def mcp_tool_reply(prompt: str) -> str:
    users = _USER.findall(prompt)
    question = users[-1] if users else ""
    since_user = prompt[prompt.rfind("<|start|>user") :]
    tools = offered_tools(prompt)
    if not tools:
        return _answer("I have no MCP tools for that.", "No MCP tools are offered.")
    named = sorted(
        (question.find(r.split(".", 1)[1]), r) for r in tools if r.split(".", 1)[1] in question
    )
    wanted = [r for _, r in named] or [next(iter(tools))]
    results = re.findall(
        r"<\|start\|>([\w\-]+\.[\w\-]+) to=assistant<\|channel\|>commentary<\|message\|>(.*?)<\|end\|>",
        since_user,
        re.DOTALL,
    )
    answered = {recipient for recipient, _ in results}
    pending = [r for r in wanted if r not in answered]
    if pending:
        recipient = pending[0]
        keyword = (re.findall(r"\w+", question) or ["nothing"])[-1]
        arguments = json.dumps({name: keyword for name in tools[recipient]})
        return (
            f"<|channel|>analysis<|message|>I should call {recipient}.<|end|>"
            f"<|start|>assistant<|channel|>commentary to={recipient} <|constrain|>json"
            f"<|message|>{arguments}<|call|>"
        )
    summary = " ".join(f"{recipient} said: {output.strip()}" for recipient, output in results)
    return _answer(summary, "The tools answered.")


def _answer(text: str, reasoning: str) -> str:
    return (
        f"<|channel|>analysis<|message|>{reasoning}<|end|>"
        f"<|start|>assistant<|channel|>final<|message|>{text}<|return|>"
    )


def mcp_tool_script(prompt_ids: list[int], params: SamplingParams, index: int) -> list[int]:
    """The ScriptedEngine script: `mcp_tool_reply` as token ids."""
    from gossamer.harmony.tokenizer import decode_text, load_harmony_encoding

    text = mcp_tool_reply(decode_text(prompt_ids))
    return list(load_harmony_encoding().encode(text, allowed_special="all"))
