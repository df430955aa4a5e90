"""A scripted gpt-oss that uses the built-in tools, for tests of the server-side tool loop.

`builtin_tool_reply(prompt)` reads the rendered harmony prompt and writes what a well-behaved
gpt-oss would write next (everything after the prefilled `<|start|>assistant`):
- with `browser` offered (`## browser` in the system message): search for the user's words, open
  the first result, find the user's KEYWORD (the last word of the question) in it, then answer
  citing the lines found on the opened page (`【cursor†Lstart-Lend】`);
- with `python` offered and "compute" in the question: run `print(EXPR)` for the expression after
  "compute", then answer with its output;
- "run:" in the question runs the rest of the question as code, and the answer quotes the output;
- "How many tool results ..." answers with the number of tool messages in the prompt (history).
The messages are the shapes docs/builtin-tools.md gives the trainer of gossamer-tiny.
"""

from __future__ import annotations

import json
import re

from gossamer.engine.protocol import SamplingParams

_RESULT = re.compile(
    r"<\|start\|>(browser\.\w+|python) to=assistant<\|channel\|>analysis<\|message\|>(.*?)<\|end\|>",
    re.DOTALL,
)
_USER = re.compile(r"<\|start\|>user<\|message\|>(.*?)<\|end\|>", re.DOTALL)
_CURSOR = re.compile(r"^\[(\d+)\]", re.MULTILINE)
_MATCH_LINE = re.compile(r"# 【\d+†match at L(\d+)】")


def call(recipient: str, body: str, reasoning: str) -> str:
    content_type = " code" if recipient == "python" else ""
    return (
        f"<|channel|>analysis<|message|>{reasoning}<|end|>"
        f"<|start|>assistant<|channel|>analysis to={recipient}{content_type}<|message|>{body}<|call|>"
    )


def answer(text: str, reasoning: str) -> str:
    return (
        f"<|channel|>analysis<|message|>{reasoning}<|end|>"
        f"<|start|>assistant<|channel|>final<|message|>{text}<|return|>"
    )


def builtin_tool_reply(prompt: str) -> str:
    users = _USER.findall(prompt)
    question = users[-1] if users else ""
    since_user = prompt[prompt.rfind("<|start|>user") :]
    results = _RESULT.findall(since_user)
    if question.startswith("How many tool results"):  # what reached the model from earlier turns
        seen = len(re.findall(r"<\|start\|>(?:browser\.\w+|python) to=assistant", prompt))
        return answer(f"I see {seen} tool results.", "I count them.")
    if "run:" in question and "## python" in prompt:
        if not results:
            return call("python", question.split("run:", 1)[1].strip(), "I will run the code.")
        return answer(f"The code printed: {results[-1][1].strip()}", "The code ran.")
    if "compute" in question and "## python" in prompt:
        if not results:
            expression = question.split("compute", 1)[1].strip(" ?.")
            return call("python", f"print({expression})", "I should compute this with python.")
        return answer(f"The result is {results[-1][1].strip()}.", "Python gave the result.")
    if "## browser" in prompt:
        return _browse(question, results)
    return answer("I have no tools for that.", "No tools are offered.")


def _browse(question: str, results: list[tuple[str, str]]) -> str:
    keyword = (re.findall(r"\w+", question) or ["nothing"])[-1]
    if not results:
        body = json.dumps({"query": question, "topn": 5})
        return call("browser.search", body, "I should search for this.")
    last_tool, last_output = results[-1]
    if last_tool == "browser.search":
        if "【0†" not in last_output:
            return answer("I found nothing about that.", "The search found nothing.")
        cursor = int(_CURSOR.search(last_output).group(1))
        return call("browser.open", json.dumps({"cursor": cursor, "id": 0}), "The first result looks right.")
    if last_tool == "browser.open":
        return call("browser.find", json.dumps({"pattern": keyword}), f"Let me find {keyword} in the page.")
    opened = [output for tool, output in results if tool == "browser.open"]
    page_cursor = int(_CURSOR.search(opened[-1]).group(1)) if opened else 0
    match = _MATCH_LINE.search(last_output)
    if match is None:
        return answer(f"The page does not mention {keyword}.", "Nothing matched.")
    line = int(match.group(1))
    return answer(
        f"The page says it about {keyword} 【{page_cursor}†L{line}-L{line + 1}】.",
        "I found it and will cite the lines.",
    )


def builtin_tool_script(prompt_ids: list[int], params: SamplingParams, index: int) -> list[int]:
    """The ScriptedEngine script: `builtin_tool_reply` as token ids."""
    from gossamer.harmony.tokenizer import decode_text, load_harmony_encoding

    text = builtin_tool_reply(decode_text(prompt_ids))
    return list(load_harmony_encoding().encode(text, allowed_special="all"))
