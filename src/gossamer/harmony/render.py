"""Render an API-neutral conversation to harmony prompt token ids: pure functions over openai-harmony.

openai-harmony renders messages exactly as gpt-oss was trained on; this module decides *which*
harmony messages a conversation becomes:
- API `system`/`developer` messages are developer instructions (harmony's own system message holds
  identity, dates, reasoning effort and built-in tools);
- an assistant turn becomes analysis (reasoning), then commentary (preamble, when it also calls
  tools) or final (answer), then one commentary message per function call;
- chain of thought is dropped from every turn that ended on `final` and kept for the turn still in a
  tool-call chain (openai-harmony's own auto-drop only looks at the last assistant message, so it
  keeps old reasoning whenever a new chain is in progress; we drop it ourselves);
- `tool_choice` "required" / named is enforced by prefilling the assistant header up to the part
  every permitted call shares, so the model can only complete a function call;
- functions of other namespaces (an MCP server's, `Conversation.function_namespaces`) go into the
  developer message beside `functions`, each as its own `namespace`; the model calls them like
  functions (commentary, `<|constrain|>json`) with their namespace as the recipient (`docs.search`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from openai_harmony import (
    Author,
    DeveloperContent,
    HarmonyEncoding,
    HarmonyError,
    ReasoningEffort,
    RenderConversationConfig,
    Role,
    SystemContent,
    ToolDescription,
    ToolNamespaceConfig,
)
from openai_harmony import Conversation as HConversation
from openai_harmony import Message as HMessage
from pydantic import ValidationError

from gossamer.errors import GossamerError
from gossamer.harmony.conversation import (
    Conversation,
    FunctionTool,
    Message,
    is_namespaced_call,
    last_answer_index,
)
from gossamer.harmony.tokenizer import load_harmony_encoding

BUILTIN_NAMESPACES = ("browser", "python", "container")
# Harmony's own names, which a namespace of functions cannot take.
RESERVED_NAMESPACES = ("functions", *BUILTIN_NAMESPACES, "assistant", "user", "system", "developer", "tool")
_EFFORTS = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}


class RenderError(GossamerError, ValueError):
    """The conversation cannot be rendered (unknown tool, bad tool_choice, ...): a client error."""


@dataclass(frozen=True)
class RenderedPrompt:
    prompt_ids: list[int]  # everything the model reads, ending with `prefill_ids`
    stop_token_ids: list[int]  # <|return|>, <|call|> (and <|end|> when stopping after one message)
    # The tail of prompt_ids that already belongs to the model's reply (`<|start|>assistant`, plus a
    # forced call header for tool_choice required/named): a StreamDecoder replays it to start in step.
    prefill_ids: list[int] = field(default_factory=list)
    tool_names: tuple[str, ...] = ()  # function names the model may call (helps the decoder salvage)
    stop_after_message: bool = False
    # Recipients of the offered functions in other namespaces (`docs.search`): calls the server runs.
    namespaced_tools: tuple[str, ...] = ()


def is_builtin_recipient(name: str) -> bool:
    return name.split(".", 1)[0] in BUILTIN_NAMESPACES


def render_conversation(
    conv: Conversation, *, stop_after_message: bool = False, encoding: HarmonyEncoding | None = None
) -> RenderedPrompt:
    encoding = encoding or load_harmony_encoding()
    choice = _tool_choice(conv)
    offer_tools = choice != "none"
    try:
        messages = [_system_message(conv, offer_tools)]
        leading, rest = _split_leading_instructions(conv.messages)
        if developer := _developer_message(conv, leading, offer_tools):
            messages.append(developer)
        messages += _conversation_messages(rest)
        hconv = HConversation.from_messages(messages)
    except ValidationError as exc:  # openai-harmony's pydantic models reject a field's type
        problem = exc.errors()[0]["msg"]
        raise RenderError(f"the conversation has a field of the wrong type: {problem}") from exc
    # auto-drop off: the chain-of-thought policy is applied in _conversation_messages.
    no_drop = RenderConversationConfig(auto_drop_analysis=False)
    try:
        prompt_ids = list(encoding.render_conversation(hconv, no_drop))
    except (HarmonyError, ValueError) as exc:  # the Rust renderer rejects what it cannot express
        raise RenderError(f"the conversation cannot be rendered in harmony: {exc}") from exc
    prompt_ids = _splice_response_format(encoding, prompt_ids, conv.response_format, messages)
    prefill_ids = _prefill(encoding, conv, choice)
    stop_ids = list(encoding.stop_tokens_for_assistant_actions())
    if stop_after_message:
        stop_ids.append(_special_id(encoding, "<|end|>"))
    tool_names = tuple(t.name for t in conv.tools) if offer_tools else ()
    namespaced = tuple(r for ns in conv.function_namespaces for r in ns.recipients()) if offer_tools else ()
    return RenderedPrompt(
        prompt_ids + prefill_ids, stop_ids, prefill_ids, tool_names, stop_after_message, namespaced
    )


@lru_cache(maxsize=64)
def _special_id(encoding: HarmonyEncoding, name: str) -> int:
    (token_id,) = encoding.encode(name, allowed_special="all")
    return token_id


def _tool_choice(conv: Conversation) -> str | dict[str, str]:
    choice = conv.tool_choice
    if isinstance(choice, dict):
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        if not name:
            raise RenderError("tool_choice object must name a function: {'name': ...}")
        if name not in {t.name for t in conv.tools}:
            raise RenderError(f"tool_choice names function {name!r}, which is not among the tools")
        return {"name": name}
    if choice not in ("auto", "none", "required"):
        raise RenderError(f"tool_choice must be auto, none, required or a named function, not {choice!r}")
    if choice == "required" and not _call_recipients(conv):
        raise RenderError("tool_choice 'required' needs at least one function tool")
    return choice


def _call_recipients(conv: Conversation) -> list[str]:
    """Every function recipient the model may call: `functions.NAME`, then other namespaces' `NS.NAME`."""
    namespaced = [r for ns in conv.function_namespaces for r in ns.recipients()]
    return [f"functions.{t.name}" for t in conv.tools] + namespaced


def _system_message(conv: Conversation, offer_tools: bool) -> HMessage:
    if conv.reasoning_effort not in _EFFORTS:
        raise RenderError(f"reasoning effort must be low, medium or high, not {conv.reasoning_effort!r}")
    content = (
        SystemContent.new()
        .with_model_identity(conv.model_identity)
        .with_reasoning_effort(_EFFORTS[conv.reasoning_effort])
        .with_knowledge_cutoff(conv.knowledge_cutoff)
    )
    if conv.current_date:
        content = content.with_conversation_start_date(conv.current_date)
    for tool in conv.builtin_tools if offer_tools else ():
        if tool == "browser":
            config = ToolNamespaceConfig.browser()
        elif tool == "python":
            config = ToolNamespaceConfig.python()
        else:
            raise RenderError(f"unknown built-in tool {tool!r} (known: browser, python)")
        if (namespace := conv.tool_namespaces.get(tool)) is not None:
            config.description = namespace.description  # the functions stay harmony's own
        content = content.with_tools(config)
    return HMessage.from_role_and_content(Role.SYSTEM, content)


def _split_leading_instructions(messages: list[Message]) -> tuple[list[Message], list[Message]]:
    """System/developer messages before the first user or assistant turn go into the developer message."""
    n = 0
    while n < len(messages) and messages[n].role in ("system", "developer"):
        n += 1
    return messages[:n], messages[n:]


def _developer_message(conv: Conversation, leading: list[Message], offer_tools: bool) -> HMessage | None:
    # Top-level instructions (Responses `instructions`) first, then the request's own system messages.
    parts = ([conv.instructions] if conv.instructions else []) + [m.content for m in leading if m.content]
    content = DeveloperContent.new()
    has_content = False
    if parts:
        content = content.with_instructions("\n\n".join(parts))
        has_content = True
    if offer_tools and conv.tools:
        content = content.with_function_tools([_tool_description(t) for t in conv.tools])
        has_content = True
    for namespace in conv.function_namespaces if offer_tools else ():
        if namespace.name in RESERVED_NAMESPACES or not namespace.name.isidentifier():
            raise RenderError(f"a namespace of functions cannot be named {namespace.name!r}")
        if namespace.tools:
            tools = [_tool_description(t) for t in namespace.tools]
            description = namespace.description or None
            config = ToolNamespaceConfig(name=namespace.name, description=description, tools=tools)
            content = content.with_tools(config)
            has_content = True
    wants_format = conv.response_format is not None and conv.response_format.get("type") != "text"
    if not has_content and not wants_format:
        return None
    return HMessage.from_role_and_content(Role.DEVELOPER, content)


def _tool_description(tool: FunctionTool) -> ToolDescription:
    if not tool.name or any(c.isspace() or c in "<>" for c in tool.name):
        raise RenderError(f"invalid function tool name {tool.name!r}")
    if tool.parameters is not None and not isinstance(tool.parameters, dict):
        raise RenderError(f"parameters of function {tool.name!r} must be a JSON schema object")
    parameters = _inline_refs(tool.parameters, tool.parameters, ()) if tool.parameters else tool.parameters
    return ToolDescription.new(tool.name, tool.description or "", parameters=parameters)


def _inline_refs(node: Any, root: dict, expanding: tuple[str, ...]) -> Any:
    """Replace local `$ref`s (`#/$defs/X`, `#/definitions/X`) by their targets.

    openai-harmony renders an unresolved `$ref` as `any`; pydantic models with nested models (the
    Agents SDK's strict tool schemas) reference their `$defs`, so the model would lose the structure.
    A recursive reference is expanded once and then left as `any`.
    """
    if isinstance(node, list):
        return [_inline_refs(item, root, expanding) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if ref in expanding:
            return _inline_refs(siblings, root, expanding)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            return _inline_refs({**target, **siblings}, root, (*expanding, ref))
    return {k: _inline_refs(v, root, expanding) for k, v in node.items() if k not in ("$defs", "definitions")}


def _conversation_messages(messages: list[Message]) -> list[HMessage]:
    last_final = last_answer_index(messages)
    call_names: dict[str, str] = {}
    out: list[HMessage] = []
    for i, m in enumerate(messages):
        if m.role in ("system", "developer"):
            # A mid-conversation instruction: harmony allows developer messages anywhere.
            content = DeveloperContent.new().with_instructions(m.content)
            out.append(HMessage.from_role_and_content(Role.DEVELOPER, content))
        elif m.role == "user":
            out.append(HMessage.from_role_and_content(Role.USER, m.content or ""))
        elif m.role == "assistant":
            keep_reasoning = last_final is None or i > last_final
            out += _assistant_messages(m, keep_reasoning)
            call_names.update({c.call_id: c.name for c in m.tool_calls})
        elif m.role == "tool":
            out.append(_tool_result(m, call_names))
        else:
            raise RenderError(f"unknown message role {m.role!r}")
    return out


def _assistant_messages(m: Message, keep_reasoning: bool) -> list[HMessage]:
    out: list[HMessage] = []
    if m.reasoning and keep_reasoning:
        out.append(HMessage.from_role_and_content(Role.ASSISTANT, m.reasoning).with_channel("analysis"))
    if m.content or not m.tool_calls:
        # Text beside calls is a preamble. A turn without calls ended on an answer, even an empty
        # one (the model does answer with nothing at times): kept, so the turns still alternate.
        channel = "commentary" if m.tool_calls else "final"
        out.append(HMessage.from_role_and_content(Role.ASSISTANT, m.content).with_channel(channel))
    for call in m.tool_calls:
        if is_builtin_recipient(call.name):
            # Built-in tools are called from the chain of thought (harmony: analysis channel).
            msg = HMessage.from_role_and_content(Role.ASSISTANT, call.arguments).with_channel("analysis")
            msg = msg.with_recipient(call.name)
            if call.name == "python":
                msg = msg.with_content_type("code")
        else:
            msg = HMessage.from_role_and_content(Role.ASSISTANT, call.arguments or "{}")
            msg = msg.with_channel("commentary")
            msg = msg.with_recipient(_function_recipient(call.name)).with_content_type("<|constrain|>json")
        out.append(msg)
    return out


def _tool_result(m: Message, call_names: dict[str, str]) -> HMessage:
    name = m.name or (call_names.get(m.tool_call_id) if m.tool_call_id else None)
    if not name:
        raise RenderError(
            f"tool result with tool_call_id {m.tool_call_id!r} answers no earlier tool call; "
            "give the function name or the id of a call in an assistant message"
        )
    if is_builtin_recipient(name):
        author, channel = name, "analysis"
    else:
        author, channel = _function_recipient(name), "commentary"
    return (
        HMessage.from_author_and_content(Author.new(Role.TOOL, author), m.content)
        .with_channel(channel)
        .with_recipient("assistant")
    )


def _function_recipient(name: str) -> str:
    """`functions.get_weather` for a function; another namespace's call keeps its own (`docs.search`)."""
    if is_namespaced_call(name):
        return name
    return f"functions.{name.removeprefix('functions.')}"


def _call_header(encoding: HarmonyEncoding, recipient: str) -> list[int]:
    """The call header as harmony renders it in history (recipient beside the role):

    `<|start|>assistant to=functions.NAME<|channel|>commentary <|constrain|>json<|message|>`
    """
    msg = HMessage.from_role_and_content(Role.ASSISTANT, "").with_channel("commentary")
    msg = msg.with_recipient(recipient).with_content_type("<|constrain|>json")
    ids = list(encoding.render(msg))
    return ids[:-1]  # without the closing <|call|>


def _prefill(encoding: HarmonyEncoding, conv: Conversation, choice: str | dict[str, str]) -> list[int]:
    start_assistant = [
        _special_id(encoding, "<|start|>"),
        *encoding.encode("assistant", disallowed_special=()),
    ]
    if isinstance(choice, dict):
        return _call_header(encoding, f"functions.{choice['name']}")
    if choice != "required":
        return start_assistant
    # The longest token prefix shared by every permitted call's header: whatever the model writes
    # next, it can only complete one of those calls (one tool: the whole header, like a named choice).
    headers = [_call_header(encoding, recipient) for recipient in _call_recipients(conv)]
    common = headers[0]
    for header in headers[1:]:
        n = 0
        while n < min(len(common), len(header)) and common[n] == header[n]:
            n += 1
        common = common[:n]
    return common


def _response_format_text(response_format: dict) -> str:
    kind = response_format.get("type")
    if kind == "json_object":
        return '## json_object\n\n// Respond with a single JSON object.\n{"type":"object"}'
    if kind != "json_schema":
        raise RenderError(f"response_format type must be text, json_schema or json_object, not {kind!r}")
    spec = response_format.get("json_schema", response_format)  # Chat Completions nests it
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise RenderError("response_format json_schema needs a 'schema' object")
    name = spec.get("name") or "response"
    lines = [f"## {name}", ""]
    if spec.get("description"):
        lines.append(f"// {spec['description']}")
    lines.append(json.dumps(schema, separators=(",", ":")))
    return "\n".join(lines)


def _splice_response_format(
    encoding: HarmonyEncoding, prompt_ids: list[int], response_format: dict | None, messages: list[HMessage]
) -> list[int]:
    """Append harmony's `# Response Formats` section to the developer message.

    openai-harmony 0.0.8 cannot render response formats, so the section's tokens go in just before
    the developer message's closing `<|end|>`.
    """
    if response_format is None or response_format.get("type") == "text":  # "text" is the default
        return prompt_ids
    text = "# Response Formats\n\n" + _response_format_text(response_format)
    dev_index = next(i for i, m in enumerate(messages) if m.author.role == Role.DEVELOPER)
    # The developer message is the (dev_index+1)-th <|end|>-terminated message of the prompt.
    end_id = _special_id(encoding, "<|end|>")
    ends = [i for i, t in enumerate(prompt_ids) if t == end_id]
    cut = ends[dev_index]
    dev_content = messages[dev_index].content[0]
    has_body = isinstance(dev_content, DeveloperContent) and (dev_content.instructions or dev_content.tools)
    sep = "\n\n" if has_body else ""
    return prompt_ids[:cut] + encoding.encode(sep + text, disallowed_special=()) + prompt_ids[cut:]
