"""Responses' hosted tools over the server's built-in ones: `web_search` runs the browser,
`code_interpreter` runs python; their calls become `web_search_call` / `code_interpreter_call`
output items, and such items (stored, or replayed by a client) become harmony history again.

An item keeps what the model saw under `harmony` (recipient, arguments, output, and the browser
page the call pushed), an extension field: OpenAI's item shapes hold a search's query or a page's
URL, not the page text the model read, and a continued conversation must show the model the same
history (its citations name cursors of those pages).
"""

from __future__ import annotations

import json
from typing import Any

from gossamer.harmony.conversation import Message, ToolCallItem
from gossamer.server.responses.errors import bad_request
from gossamer.server.responses.items import Item, new_id
from gossamer.server.server_tools import max_tool_calls
from gossamer.tools.browser.citations import CitationStream
from gossamer.tools.events import ServerToolFinished, ServerToolStarted
from gossamer.tools.loop import ToolLoopTurn
from gossamer.tools.toolbox import ToolBox
from gossamer.turn.pipeline import Turn
from gossamer.turn.sequence import TurnDelta

# OpenAI's hosted tool types -> the built-in tool that serves them.
HOSTED_TYPES = {
    "web_search": "browser",
    "web_search_preview": "browser",
    "web_search_2025_08_26": "browser",
    "web_search_preview_2025_03_11": "browser",
    "code_interpreter": "python",
}
CALL_ITEM_TYPES = ("web_search_call", "code_interpreter_call")
CONTAINER_ID = "cntr_gossamer_sandbox"  # each call runs in a fresh sandbox; there is no container to reuse


def requested_tools(raw_tools: list[dict[str, Any]] | None) -> list[str]:
    """The built-in tools a request's `tools` ask for ("browser", "python"), in order."""
    names: list[str] = []
    for tool in raw_tools or []:
        name = HOSTED_TYPES.get(str(tool.get("type")))
        if name is not None and name not in names:
            names.append(name)
    return names


def toolbox_for(state: Any, raw_tools: list[dict[str, Any]] | None, history: list[Item]) -> ToolBox | None:
    """Tools for one response, or None when it asks for none; a 400 when the server runs none of them."""
    names = requested_tools(raw_tools)
    if not names:
        return None
    server_tools = state.tools
    missing = [n for n in names if server_tools is None or n not in server_tools.enabled]
    if missing:
        index, tool = next(
            (i, t) for i, t in enumerate(raw_tools or []) if HOSTED_TYPES.get(str(t.get("type"))) in missing
        )
        name = HOSTED_TYPES[tool["type"]]
        raise bad_request(
            f"tools[{index}]: the tool type {tool['type']!r} needs the server's built-in {name} tool, which "
            f"this server does not run (start it with --tools {','.join(missing)}).",
            param=f"tools[{index}].type",
            code="unsupported_tool_type",
        )
    pages = [
        item["harmony"]["page"]
        for item in history
        if item.get("type") == "web_search_call" and isinstance((item.get("harmony") or {}).get("page"), dict)
    ]
    return server_tools.toolbox(names, browser_pages=pages)


# -- items ---------------------------------------------------------------------------------------


def started_item(event: ServerToolStarted) -> Item:
    call = event.call
    harmony = {"call_id": call.call_id, "recipient": call.recipient, "arguments": call.arguments}
    if call.namespace == "python":
        return {
            "type": "code_interpreter_call",
            "id": new_id("ci"),
            "status": "in_progress",
            "container_id": CONTAINER_ID,
            "code": call.arguments,
            "outputs": None,
            "harmony": harmony,
        }
    return {
        "type": "web_search_call",
        "id": new_id("ws"),
        "status": "in_progress",
        "action": _planned_action(call.function, call.arguments),
        "harmony": harmony,
    }


def finish_item(item: Item, event: ServerToolFinished) -> None:
    result = event.result
    item["harmony"]["output"] = result.output
    if item["type"] == "code_interpreter_call":
        item["status"] = "completed" if result.status == "completed" else "failed"
        item["outputs"] = [{"type": "logs", "logs": result.output}]
        return
    item["status"] = "completed" if result.status == "completed" else "failed"
    if "action" in result.details:
        item["action"] = result.details["action"]
    if "page" in result.details:
        item["harmony"]["page"] = result.details["page"]


def _planned_action(function: str, arguments: str) -> dict[str, Any]:
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        args = {}
    args = args if isinstance(args, dict) else {}
    if function == "search":
        return {"type": "search", "query": str(args.get("query", ""))}
    if function == "find":
        return {"type": "find_in_page", "url": "", "pattern": str(args.get("pattern", ""))}
    target = args.get("id")
    return {"type": "open_page", "url": target if isinstance(target, str) else None}


def parse_call_item(entry: dict[str, Any], param: str, stored: Item | None) -> Item:
    """A web_search_call or code_interpreter_call input item, canonical; a stored copy (same id)
    supplies what a client dropped (the `harmony` field)."""
    item_type = entry["type"]
    item_id = entry.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise bad_request(f"{param}.id is required for a {item_type} item.", param=f"{param}.id")
    if not isinstance(entry.get("harmony"), dict) and stored is not None and stored.get("type") == item_type:
        return stored
    item = {k: v for k, v in entry.items() if k in _FIELDS[item_type]}
    item.setdefault("status", "completed")
    if item_type == "code_interpreter_call":
        if not isinstance(item.get("code"), str):
            raise bad_request(f"{param}.code must be a string.", param=f"{param}.code")
        item.setdefault("container_id", CONTAINER_ID)
        item.setdefault("outputs", None)
    elif not isinstance(item.get("action"), dict):
        raise bad_request(f"{param}.action must be an object.", param=f"{param}.action")
    if isinstance(entry.get("harmony"), dict):
        item["harmony"] = entry["harmony"]
    return item


_FIELDS = {
    "web_search_call": ("type", "id", "status", "action"),
    "code_interpreter_call": ("type", "id", "status", "container_id", "code", "outputs"),
}


def call_messages(item: Item) -> tuple[ToolCallItem, Message]:
    """The harmony call an item stands for, and the tool's message answering it."""
    harmony = item.get("harmony") or {}
    call_id = harmony.get("call_id") or item["id"]
    if item["type"] == "code_interpreter_call":
        recipient, arguments = "python", item.get("code") or ""
        logs = [o.get("logs", "") for o in item.get("outputs") or [] if isinstance(o, dict)]
        output = harmony.get("output", "".join(str(log) for log in logs))
    else:
        recipient = harmony.get("recipient") or _recipient(item.get("action") or {})
        arguments = harmony.get("arguments") or _arguments(item.get("action") or {})
        output = harmony.get("output", "")
    call = ToolCallItem(call_id, recipient, arguments)
    return call, Message("tool", output, tool_call_id=call_id, name=recipient)


def _recipient(action: dict[str, Any]) -> str:
    return {"search": "browser.search", "find_in_page": "browser.find"}.get(
        action.get("type", ""), "browser.open"
    )


def _arguments(action: dict[str, Any]) -> str:
    match action.get("type"):
        case "search":
            return json.dumps({"query": action.get("query", "")})
        case "find_in_page":
            return json.dumps({"pattern": action.get("pattern", "")})
        case _:
            return json.dumps({"id": action.get("url") or -1})


# -- the loop ------------------------------------------------------------------------------------


def with_tools(state: Any, toolbox: ToolBox | None, turn: Turn, builder: Any) -> Turn | ToolLoopTurn:
    """The turn, wrapped in the server-side tool loop when the response runs built-in tools; the
    builder then rewrites the answer's browser citations into url_citation annotations."""
    if toolbox is None:
        return turn
    if "browser" in toolbox.names:
        builder.citations = CitationStream(toolbox.cite)
    return ToolLoopTurn(turn, toolbox, max_calls=max_tool_calls(state))


def ran_a_tool(delta: TurnDelta) -> bool:
    return any(isinstance(event, ServerToolFinished) for event in delta.events)
