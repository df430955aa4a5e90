"""Canonical Responses items -> harmony Conversation messages (a pure function).

An assistant turn in the Responses API is a run of reasoning, function_call and assistant
message items; harmony wants one assistant message per turn step, carrying its chain of
thought, its answer and its tool calls. The chain-of-thought rule of harmony is applied here:
reasoning before the last final answer is dropped, reasoning of a tool chain still in progress
goes back to the model (it needs it together with the tool results). MCP items (mcp_items.py)
are calls and results like the built-in tools', or nothing at all (a tool list).
"""

from __future__ import annotations

from typing import Any

from gossamer.harmony.conversation import Message, ToolCallItem, last_answer_index
from gossamer.server.responses import mcp_items
from gossamer.server.responses.builtin_tools import call_messages
from gossamer.server.responses.errors import bad_request
from gossamer.server.responses.items import Item, message_text


def items_to_messages(items: list[Item]) -> list[Message]:
    messages: list[Message] = []
    call_names: dict[str, str] = {}  # call_id -> function name, to answer tool results
    turn: Message | None = None  # the assistant message being assembled
    # MCP calls waiting for the user (approval request id -> the call), answered by an mcp_call,
    # a declining approval response, or, when the conversation moves on, as calls that did not run.
    awaiting: dict[str, ToolCallItem] = {}

    def close_awaiting() -> None:
        nonlocal turn
        for call in awaiting.values():
            messages.append(mcp_items.not_run(call, None, declined=False))
            turn = None
        awaiting.clear()

    def assistant() -> Message:
        nonlocal turn
        if turn is None:
            turn = Message(role="assistant", content="")
            messages.append(turn)
        return turn

    for index, item in enumerate(items):
        match item["type"]:
            case "reasoning":
                # Reasoning after an answer or a call starts the next step of the turn.
                if turn is not None and (turn.content or turn.tool_calls or turn.reasoning):
                    turn = None
                assistant().reasoning = _text(item["content"])
            case "function_call":
                call_names[item["call_id"]] = item["name"]
                assistant().tool_calls.append(
                    ToolCallItem(call_id=item["call_id"], name=item["name"], arguments=item["arguments"])
                )
            case "web_search_call" | "code_interpreter_call":
                # A built-in call the server ran: the call in the assistant's turn, then its result.
                call, result = call_messages(item)
                assistant().tool_calls.append(call)
                messages.append(result)
                turn = None
            case "mcp_list_tools":
                pass  # its tools are in the developer message; the list itself is nothing to the model
            case "mcp_approval_request":
                call = mcp_items.harmony_call(item)
                assistant().tool_calls.append(call)
                awaiting[item["id"]] = call
            case "mcp_approval_response":
                request_id = item["approval_request_id"]
                if request_id in awaiting and not item["approve"]:
                    call = awaiting.pop(request_id)
                    messages.append(mcp_items.not_run(call, item["reason"], declined=True))
                    turn = None
            case "mcp_call":
                call = awaiting.pop(item.get("approval_request_id") or "", None)
                if call is None:
                    call = mcp_items.harmony_call(item)
                    assistant().tool_calls.append(call)
                messages.append(mcp_items.call_result(item, call))
                turn = None
            case "message" if item["role"] == "assistant":
                close_awaiting()
                if turn is not None and (turn.content or turn.tool_calls):
                    turn = None
                assistant().content = _text(item["content"])
            case "message":
                close_awaiting()
                turn = None
                messages.append(Message(role=item["role"], content=_text(item["content"])))
            case "function_call_output":
                turn = None
                name = call_names.get(item["call_id"])
                if name is None:
                    raise bad_request(
                        f"No function_call with call_id '{item['call_id']}' precedes this "
                        "function_call_output in the conversation.",
                        param="input",
                        code="function_call_output_without_call",
                    )
                messages.append(
                    Message(role="tool", content=item["output"], tool_call_id=item["call_id"], name=name)
                )
            case other:
                raise bad_request(f"Unsupported item type '{other}' at position {index}.", param="input")
    close_awaiting()
    drop_finished_reasoning(messages)
    return messages


def drop_finished_reasoning(messages: list[Message]) -> None:
    """Harmony's rule: CoT of turns that ended on `final` never goes back to the model."""
    last_final = last_answer_index(messages)
    if last_final is None:
        return
    for message in messages[: last_final + 1]:
        if message.role == "assistant":
            message.reasoning = None


def _text(content: Any) -> str:
    return message_text(content, "content")
