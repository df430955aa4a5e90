"""MCP's output items in OpenAI's shapes, their stream events, and their harmony history.

    mcp_list_tools         {server_label, tools: [{name, description, input_schema, annotations}], error}
    mcp_call               {server_label, name, arguments, output, error, status, approval_request_id}
    mcp_approval_request   {server_label, name, arguments}: a call that waits for the user
    mcp_approval_response  {approval_request_id, approve, reason}: the user's answer (an input item)

Calls and approval requests also carry `harmony` (the call id and recipient the model wrote,
`docs.search`), an extension as on the built-in tools' items, so that history renders the call as
the model made it; a client that drops it gets the recipient rebuilt from the label and name.
No item ever holds a header value. In harmony a call is the assistant's call and the tool's
message (its output, or what went wrong); a declined or never-answered approval request is the
call and a tool message saying it did not run; a tool list is no message at all.
"""

from __future__ import annotations

import copy
from typing import Any

from gossamer.harmony.conversation import Message, ToolCallItem
from gossamer.server.responses.errors import bad_request
from gossamer.server.responses.items import Item, new_id
from gossamer.tools.mcp.config import ToolInfo, function_name, namespace_for

ITEM_TYPES = ("mcp_list_tools", "mcp_call", "mcp_approval_request", "mcp_approval_response")
Steps = list[tuple[str, dict[str, Any]]]  # stream events (type, fields) for the builder to number


def list_tools_item(label: str, tools: list[ToolInfo] | None, error: str | None = None) -> Item:
    return {
        "type": "mcp_list_tools",
        "id": new_id("mcpl"),
        "server_label": label,
        "tools": [tool.item() for tool in tools or []],
        "error": error,
    }


def call_item(
    label: str,
    name: str,
    arguments: str,
    *,
    call_id: str,
    recipient: str,
    approval_request_id: str | None = None,
) -> Item:
    return {
        "type": "mcp_call",
        "id": new_id("mcp"),
        "server_label": label,
        "name": name,
        "arguments": arguments,
        "output": None,
        "error": None,
        "status": "in_progress",
        "approval_request_id": approval_request_id,
        "harmony": {"call_id": call_id, "recipient": recipient},
    }


def finish_call(item: Item, output: str, error: dict[str, Any] | None) -> None:
    item["status"] = "failed" if error is not None else "completed"
    item["error"] = error
    # What the model read, also for a failure: a client shows it, and history renders it back.
    item["output"] = output


def approval_request_item(label: str, name: str, arguments: str, *, call_id: str, recipient: str) -> Item:
    return {
        "type": "mcp_approval_request",
        "id": new_id("mcpr"),
        "server_label": label,
        "name": name,
        "arguments": arguments,
        "harmony": {"call_id": call_id, "recipient": recipient},
    }


# -- stream events -------------------------------------------------------------------------------


def list_tools_steps(item: Item, index: int) -> Steps:
    ids = {"output_index": index, "item_id": item["id"]}
    ended = "failed" if item["error"] else "completed"
    return [
        ("response.output_item.added", {"output_index": index, "item": {**item, "tools": []}}),
        ("response.mcp_list_tools.in_progress", ids),
        (f"response.mcp_list_tools.{ended}", ids),
        ("response.output_item.done", {"output_index": index, "item": copy.deepcopy(item)}),
    ]


def call_started_steps(item: Item, index: int) -> Steps:
    ids = {"output_index": index, "item_id": item["id"]}
    return [
        ("response.output_item.added", {"output_index": index, "item": copy.deepcopy(item)}),
        ("response.mcp_call.in_progress", ids),
        ("response.mcp_call_arguments.delta", {**ids, "delta": item["arguments"]}),
        ("response.mcp_call_arguments.done", {**ids, "arguments": item["arguments"]}),
    ]


def call_finished_steps(item: Item, index: int) -> Steps:
    ids = {"output_index": index, "item_id": item["id"]}
    ended = "completed" if item["status"] == "completed" else "failed"
    return [
        (f"response.mcp_call.{ended}", ids),
        ("response.output_item.done", {"output_index": index, "item": copy.deepcopy(item)}),
    ]


def approval_request_steps(item: Item, index: int) -> Steps:
    return [
        ("response.output_item.added", {"output_index": index, "item": copy.deepcopy(item)}),
        ("response.output_item.done", {"output_index": index, "item": copy.deepcopy(item)}),
    ]


def prelude_steps(item: Item, index: int) -> Steps:
    """Events of an item made before the model's first turn (a tool list, an approved call)."""
    if item["type"] == "mcp_list_tools":
        return list_tools_steps(item, index)
    return call_started_steps(item, index) + call_finished_steps(item, index)


# -- input items ---------------------------------------------------------------------------------


def parse_item(entry: dict[str, Any], param: str) -> Item:
    """An MCP input item (a replayed output item, or the user's approval response), canonical."""
    kind = entry["type"]
    if kind == "mcp_approval_response":
        request_id = entry.get("approval_request_id")
        if not isinstance(request_id, str) or not request_id:
            field = f"{param}.approval_request_id"
            raise bad_request(f"{field} is required.", param=field)
        if not isinstance(entry.get("approve"), bool):
            raise bad_request(f"{param}.approve must be true or false.", param=f"{param}.approve")
        reason = entry.get("reason")
        return {
            "type": kind,
            "id": _string(entry, "id", param, required=False) or new_id("mcpa"),
            "approval_request_id": request_id,
            "approve": entry["approve"],
            "reason": reason if isinstance(reason, str) else None,
        }
    item: Item = {
        "type": kind,
        "id": _string(entry, "id", param),
        "server_label": _string(entry, "server_label", param),
    }
    if kind == "mcp_list_tools":
        tools = entry.get("tools")
        if not isinstance(tools, list):
            raise bad_request(f"{param}.tools must be a list.", param=f"{param}.tools")
        infos = [ToolInfo.from_item(t) if isinstance(t, dict) else None for t in tools]
        if any(info is None for info in infos):
            message = f"{param}.tools: each needs a name and an input_schema object."
            raise bad_request(message, param=f"{param}.tools")
        error = entry.get("error")
        item["tools"] = [info.item() for info in infos if info]
        item["error"] = error if isinstance(error, str) else None
        return item
    item["name"] = _string(entry, "name", param)
    item["arguments"] = _string(entry, "arguments", param, required=False) or ""
    if kind == "mcp_call":
        output, error = entry.get("output"), entry.get("error")
        item.update(
            output=output if isinstance(output, str) else None,
            error=error if isinstance(error, dict | str) else None,
            status=entry.get("status") or "completed",
            approval_request_id=entry.get("approval_request_id"),
        )
    if isinstance(entry.get("harmony"), dict):
        item["harmony"] = entry["harmony"]
    return item


def _string(entry: dict[str, Any], key: str, param: str, *, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise bad_request(f"{param}.{key} is required and must be a string.", param=f"{param}.{key}")
    return value


# -- harmony history -----------------------------------------------------------------------------


def harmony_call(item: Item) -> ToolCallItem:
    """The call an mcp_call or mcp_approval_request item stands for, as the model wrote it."""
    harmony = item.get("harmony") or {}
    recipient = harmony.get("recipient")
    if not isinstance(recipient, str) or "." not in recipient:
        recipient = f"{namespace_for(item['server_label'], set())}.{function_name(item['name'])}"
    call_id = harmony.get("call_id") if isinstance(harmony.get("call_id"), str) else item["id"]
    return ToolCallItem(call_id, recipient, item.get("arguments") or "{}")


def call_result(item: Item, call: ToolCallItem) -> Message:
    """The tool's message answering an mcp_call item: its output, else what went wrong."""
    output = item.get("output")
    if not isinstance(output, str):
        output = error_text(item.get("error")) or ""
    return Message("tool", output, tool_call_id=call.call_id, name=call.name)


def not_run(call: ToolCallItem, reason: str | None, *, declined: bool) -> Message:
    if declined:
        text = "The user declined this call; it did not run." + (f" Their reason: {reason}" if reason else "")
    else:
        text = "This call was not approved by the user; it did not run."
    return Message("tool", text, tool_call_id=call.call_id, name=call.name)


def error_text(error: Any) -> str:
    if isinstance(error, str):
        return error
    if not isinstance(error, dict):
        return ""
    if isinstance(error.get("message"), str):
        return error["message"]
    texts = [c.get("text", "") for c in error.get("content") or [] if isinstance(c, dict)]
    return "The tool failed: " + " ".join(t for t in texts if t) if texts else "The tool failed."
