"""Input items: accept what OpenAI's clients send and normalize it to one canonical shape.

Canonical items are the JSON objects OpenAI itself returns (with `id` and `status`), so the
store keeps, lists and replays exactly one form. The Agents SDK replays earlier output items
verbatim (reasoning with `reasoning_text` content, `function_call` with `call_id`, assistant
messages with `output_text`), so output items are valid input items too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from gossamer.server.responses.errors import bad_request, not_found

Item = dict[str, Any]

MESSAGE_ROLES = ("user", "system", "developer", "assistant")
TEXT_PART_TYPES = ("input_text", "output_text", "text", "refusal", "summary_text", "reasoning_text")
UNSUPPORTED_PART_TYPES = ("input_image", "input_file", "input_audio")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def parse_input(
    raw: str | list[Any] | None, *, resolve_reference: Callable[[str], Item | None]
) -> list[Item]:
    """Normalize the request's `input`; raise a 400 for anything malformed or unknown."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return [user_text_message(raw)]
    items = []
    for index, entry in enumerate(raw):
        param = f"input[{index}]"
        if isinstance(entry, str):  # some clients send bare strings in the list
            items.append(user_text_message(entry))
            continue
        if not isinstance(entry, dict):
            raise bad_request(f"{param} must be an object, got {type(entry).__name__}.", param=param)
        items.append(parse_item(entry, param=param, resolve_reference=resolve_reference))
    return items


def user_text_message(text: str) -> Item:
    return {
        "type": "message",
        "id": new_id("msg"),
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": text}],
    }


def parse_item(entry: dict[str, Any], *, param: str, resolve_reference: Callable[[str], Item | None]) -> Item:
    # An EasyInputMessage has a role and no type; OpenAI treats it as a message.
    item_type = entry.get("type", "message" if "role" in entry else None)
    match item_type:
        case "message":
            return _message(entry, param)
        case "reasoning":
            return _reasoning(entry, param)
        case "function_call":
            return _function_call(entry, param)
        case "function_call_output":
            return _function_call_output(entry, param)
        case "web_search_call" | "code_interpreter_call":
            from gossamer.server.responses.builtin_tools import parse_call_item

            item_id = entry.get("id")
            stored = resolve_reference(item_id) if isinstance(item_id, str) and item_id else None
            return parse_call_item(entry, param, stored)
        case "mcp_list_tools" | "mcp_call" | "mcp_approval_request" | "mcp_approval_response":
            from gossamer.server.responses.mcp_items import parse_item as parse_mcp_item

            return parse_mcp_item(entry, param)
        case "item_reference":
            item_id = _required_str(entry, "id", param)
            item = resolve_reference(item_id)
            if item is None:
                raise not_found(f"Item with id '{item_id}' not found.", param=f"{param}.id")
            return item
        case None:
            raise bad_request(f"{param} has no 'type'.", param=f"{param}.type")
        case _:
            raise bad_request(
                f"Unsupported input item type '{item_type}' at {param}. Supported: message, reasoning, "
                "function_call, function_call_output, web_search_call, code_interpreter_call, "
                "mcp_list_tools, mcp_call, mcp_approval_request, mcp_approval_response, item_reference.",
                param=f"{param}.type",
                code="unsupported_item_type",
            )


def _required_str(entry: dict[str, Any], key: str, param: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        raise bad_request(f"{param}.{key} is required and must be a string.", param=f"{param}.{key}")
    return value


def _message(entry: dict[str, Any], param: str) -> Item:
    role = entry.get("role")
    if role not in MESSAGE_ROLES:
        raise bad_request(
            f"{param}.role must be one of {', '.join(MESSAGE_ROLES)}; got {role!r}.", param=f"{param}.role"
        )
    text = message_text(entry.get("content"), f"{param}.content")
    if role == "assistant":
        content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    else:
        content = [{"type": "input_text", "text": text}]
    prefix = "msg"
    return {
        "type": "message",
        "id": _item_id(entry, prefix, param),
        "role": role,
        "status": entry.get("status") or "completed",
        "content": content,
    }


def _item_id(entry: dict[str, Any], prefix: str, param: str) -> str:
    """The item's own id when it has one (a string: it is stored and looked up by it), else a new one."""
    item_id = entry.get("id")
    if item_id is None or item_id == "":
        return new_id(prefix)
    if not isinstance(item_id, str):
        raise bad_request(f"{param}.id must be a string.", param=f"{param}.id")
    return item_id


def message_text(content: Any, param: str) -> str:
    """The text of a message's content: a string, or a list of text parts joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{param} must be a string or a list of content parts.", param=param)
    texts = []
    for index, part in enumerate(content):
        part_param = f"{param}[{index}]"
        if not isinstance(part, dict):
            raise bad_request(f"{part_param} must be an object.", param=part_param)
        part_type = part.get("type")
        if part_type in UNSUPPORTED_PART_TYPES:
            raise bad_request(
                f"{part_param}: '{part_type}' is not supported; gpt-oss reads text only.",
                param=f"{part_param}.type",
                code="unsupported_content_type",
            )
        if part_type not in TEXT_PART_TYPES:
            raise bad_request(
                f"{part_param}: unknown content part type {part_type!r}.", param=f"{part_param}.type"
            )
        text = part.get("refusal") if part_type == "refusal" else part.get("text")
        if not isinstance(text, str):
            raise bad_request(f"{part_param} has no text.", param=part_param)
        texts.append(text)
    return "".join(texts)


def _reasoning(entry: dict[str, Any], param: str) -> Item:
    content = entry.get("content") or []
    # A reasoning item from a client that only kept the summary still carries the gist.
    if not content and entry.get("summary"):
        content = [{"type": "reasoning_text", "text": message_text(entry["summary"], f"{param}.summary")}]
    text = message_text(content, f"{param}.content")
    return {
        "type": "reasoning",
        "id": _item_id(entry, "rs", param),
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
        "encrypted_content": None,
        "status": entry.get("status") or "completed",
    }


def _function_call(entry: dict[str, Any], param: str) -> Item:
    arguments = entry.get("arguments", "")
    if not isinstance(arguments, str):
        raise bad_request(f"{param}.arguments must be a JSON string.", param=f"{param}.arguments")
    return {
        "type": "function_call",
        "id": _item_id(entry, "fc", param),
        "call_id": _required_str(entry, "call_id", param),
        "name": _required_str(entry, "name", param),
        "arguments": arguments,
        "status": entry.get("status") or "completed",
    }


def _function_call_output(entry: dict[str, Any], param: str) -> Item:
    output = entry.get("output")
    if isinstance(output, list):
        output = message_text(output, f"{param}.output")
    if not isinstance(output, str):
        raise bad_request(
            f"{param}.output must be a string or a list of text parts.", param=f"{param}.output"
        )
    return {
        "type": "function_call_output",
        "id": _item_id(entry, "fco", param),
        "call_id": _required_str(entry, "call_id", param),
        "output": output,
        "status": entry.get("status") or "completed",
    }
