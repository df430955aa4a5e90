"""Reasoning replay: give the model back the chain of thought of its own tool-call turns.

gpt-oss calls tools in the middle of its chain of thought, and harmony wants that chain handed
back with the tool's result until the final answer. Clients that nobody here wrote drop it
(LangChain's ChatOpenAI, the Agents SDK's Chat Completions model): the model then answers without
having seen why it called the tool, and loses the result ("It is degrees celsius").

So the server remembers the reasoning of every turn it produced that ended in function calls,
under two kinds of key, and restores it before rendering when a request carries that assistant
turn without reasoning:
- each call id it issued (what OpenAI-style clients echo back);
- a fingerprint of the conversation before the turn plus the turn's calls, for clients that do
  not keep ids (Ollama's), with call ids left out of it since those clients invent new ones.
Only the turns harmony would show the model are restored: those after the last final answer.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

from gossamer.harmony.conversation import Conversation, Message, ToolCallItem, last_answer_index
from gossamer.harmony.events import ToolCall


class ReasoningMemory(Protocol):
    def remember(self, keys: list[str], reasoning: str, tenant: str) -> None: ...

    def recall(self, keys: list[str], tenant: str) -> str | None: ...


def _arguments_key(arguments: str) -> str:
    """Arguments as JSON with sorted keys, so `{"a": 1}` sent back by a client matches `{"a":1}`."""
    try:
        return json.dumps(json.loads(arguments), sort_keys=True, separators=(",", ":"))
    except (ValueError, TypeError):
        return arguments.strip()


def _message_record(m: Message) -> list:
    # Reasoning is left out: it is what may be missing. Call ids are left out: some clients renew them.
    calls = [[c.name, _arguments_key(c.arguments)] for c in m.tool_calls]
    return [m.role, m.content, calls, m.name if m.role == "tool" else None]


def history_digest(messages: list[Message]) -> str:
    """A digest of the conversation so far, insensitive to what clients drop or renew.

    Hashed message by message: a long history never holds the GIL in one long call.
    """
    digest = hashlib.sha256()
    for m in messages:
        record = json.dumps(_message_record(m), ensure_ascii=False, separators=(",", ":"))
        digest.update(record.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


def _turn_keys(digest: str, calls: list[ToolCallItem] | list[ToolCall]) -> list[str]:
    keys = [f"id:{c.call_id}" for c in calls if c.call_id]
    signature = json.dumps([[c.name, _arguments_key(c.arguments)] for c in calls], separators=(",", ":"))
    fingerprint = hashlib.sha256(f"{digest}\n{signature}".encode("utf-8", "surrogatepass")).hexdigest()
    return [*keys, f"fp:{fingerprint}"]


class ReasoningReplay:
    def __init__(self, memory: ReasoningMemory) -> None:
        self.memory = memory

    def restore(self, conv: Conversation, tenant: str) -> int:
        """Put back the reasoning of the server's own tool-call turns; returns how many were restored."""
        messages = conv.messages
        num_restored = 0
        last_answer = last_answer_index(messages)
        for i in range(0 if last_answer is None else last_answer + 1, len(messages)):
            m = messages[i]
            if m.role != "assistant" or not m.tool_calls or m.reasoning:
                continue
            reasoning = self.memory.recall(_turn_keys(history_digest(messages[:i]), m.tool_calls), tenant)
            if reasoning:
                m.reasoning = reasoning
                num_restored += 1
        return num_restored

    def remember(self, digest: str, reasoning: str, calls: list[ToolCall], tenant: str) -> None:
        """Keep the reasoning of a turn that ended in `calls`; `digest` is its request's history_digest."""
        if reasoning and calls:
            self.memory.remember(_turn_keys(digest, calls), reasoning, tenant)
