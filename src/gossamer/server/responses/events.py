"""Harmony decoder events -> Responses output items and stream events (OpenAI's sequence).

One `ResponseEventBuilder` follows one response: it owns the response object, appends output
items as the model writes them, and returns the stream events each step produces, numbered by
`sequence_number`. The non-streamed response is the builder's final response object, which is
exactly what the terminal event carries.

Per output item the order is OpenAI's: output_item.added, content_part.added, *.delta...,
*.done, content_part.done, output_item.done (function calls have no content part). MCP items
(mcp_items.py) open the output when made before the first turn (`prelude`), and the calls the
loop runs on an MCP server's namespace are `mcp_call` items.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from gossamer.harmony.events import (
    BuiltinToolCall,
    ContentDelta,
    Event,
    Finished,
    PreambleDelta,
    ReasoningDelta,
    ToolCallArgumentsDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from gossamer.server.responses import mcp_items
from gossamer.server.responses.builtin_tools import finish_item, started_item
from gossamer.server.responses.items import Item, new_id
from gossamer.tools.browser.citations import CitationStream
from gossamer.tools.events import ServerToolApprovalRequested, ServerToolFinished, ServerToolStarted

StreamEvent = dict[str, Any]
ItemKind = Literal["reasoning", "final", "preamble", "function_call"]
TerminalStatus = Literal["completed", "incomplete", "failed", "cancelled"]


@dataclass
class _OpenItem:
    kind: ItemKind
    output_index: int
    text: str = ""
    tool_index: int | None = None  # the decoder's index for function calls
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # answer tokens, when asked for

    def item(self, output: list[dict[str, Any]]) -> dict[str, Any]:
        return output[self.output_index]


class ResponseEventBuilder:
    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response  # the response object, updated in place
        self.output: list[dict[str, Any]] = response["output"]
        self.num_events = 0
        self._open: _OpenItem | None = None
        self._finished = False
        self._tool_items: dict[str, int] = {}  # call id -> output index of its item
        # Set when the browser runs: answer text has its citations rewritten, with annotations.
        self.citations: CitationStream | None = None
        self._annotations: list[dict[str, Any]] = []
        # MCP: its servers' tools by harmony namespace (their calls become mcp_call items), and the
        # items made before the first turn (tool lists, approved calls), output first at `start`.
        self.mcp_tools: dict[str, Any] = {}  # namespace -> tools.mcp.tool.McpServerTool
        self.prelude: list[Item] = []

    @property
    def finished(self) -> bool:
        return self._finished

    def _event(self, type: str, **fields: Any) -> StreamEvent:
        event = {"type": type, "sequence_number": self.num_events, **fields}
        self.num_events += 1
        return event

    def _snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.response)

    def start(self) -> list[StreamEvent]:
        self.response["status"] = "in_progress"
        out = [
            self._event("response.created", response=self._snapshot()),
            self._event("response.in_progress", response=self._snapshot()),
        ]
        for item in self.prelude:
            self.output.append(item)
            out += self._steps(mcp_items.prelude_steps(item, len(self.output) - 1))
        return out

    def _steps(self, steps: mcp_items.Steps) -> list[StreamEvent]:
        return [self._event(kind, **fields) for kind, fields in steps]

    def queued(self) -> list[StreamEvent]:
        return [self._event("response.queued", response=self._snapshot())]

    def feed(self, events: list[Event], logprobs: list[dict[str, Any]] | None = None) -> list[StreamEvent]:
        """Stream events for decoder events; `logprobs` (of the tokens behind them) go with answer text."""
        out: list[StreamEvent] = []
        for event in events:
            match event:
                case ReasoningDelta(text=text):
                    out += self._text_delta("reasoning", text)
                case ContentDelta(text=text):
                    out += self._text_delta("final", text)
                case PreambleDelta(text=text):
                    out += self._text_delta("preamble", text)
                case ToolCallStarted(index=index, call_id=call_id, name=name):
                    out += self._close("completed")
                    out += self._open_function_call(index, call_id, name)
                case ToolCallArgumentsDelta(index=index, text=text):
                    out += self._arguments_delta(index, text)
                case ToolCallFinished(index=index, arguments=arguments):
                    out += self._finish_function_call(index, arguments)
                case BuiltinToolCall():
                    # The call itself becomes an item when the server runs it (ServerToolStarted);
                    # a stray one (no tool offered) is dropped like unrecognized text.
                    out += self._close("completed")
                case ServerToolStarted() if event.call.namespace in self.mcp_tools:
                    out += self._close("completed")
                    out += self._start_mcp_call(event)
                case ServerToolStarted():
                    out += self._close("completed")
                    out += self._start_tool_call(event)
                case ServerToolApprovalRequested():
                    out += self._close("completed")
                    out += self._request_approval(event)
                case ServerToolFinished():
                    out += self._finish_tool_call(event)
                case Finished():
                    pass  # the caller decides the terminal status (it knows about aborts and errors)
        if logprobs:
            text_deltas = [e for e in out if e["type"] == "response.output_text.delta"]
            if text_deltas and self._open is not None:
                text_deltas[0]["logprobs"] = logprobs
                self._open.logprobs += logprobs
        return out

    # -- text items (reasoning, answer, preamble) --------------------------------------------

    def _text_delta(self, kind: ItemKind, text: str) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._open is None or self._open.kind != kind:
            out += self._close("completed")
            out += self._open_text_item(kind)
        annotations: list[dict[str, Any]] = []
        if kind == "final" and self.citations is not None:
            text, annotations = self.citations.push(text)
        out += self._append_text(kind, text)
        out += self._annotate(annotations)
        return out

    def _append_text(self, kind: ItemKind, text: str) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if not text:
            return out
        assert self._open is not None
        self._open.text += text
        item_id = self._open.item(self.output)["id"]
        if kind == "reasoning":
            out.append(
                self._event(
                    "response.reasoning_text.delta",
                    item_id=item_id,
                    output_index=self._open.output_index,
                    content_index=0,
                    delta=text,
                )
            )
        else:
            out.append(
                self._event(
                    "response.output_text.delta",
                    item_id=item_id,
                    output_index=self._open.output_index,
                    content_index=0,
                    delta=text,
                    logprobs=[],
                )
            )
        return out

    def _open_text_item(self, kind: ItemKind) -> list[StreamEvent]:
        if kind == "reasoning":
            item = {
                "type": "reasoning",
                "id": new_id("rs"),
                "summary": [],
                "content": [],
                "encrypted_content": None,
                "status": "in_progress",
            }
            part = {"type": "reasoning_text", "text": ""}
        else:
            item = {
                "type": "message",
                "id": new_id("msg"),
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            if kind == "final" and self.citations is not None:
                self.citations.emitted = 0  # annotation offsets count within this item's text
        self.output.append(item)
        self._open = _OpenItem(kind=kind, output_index=len(self.output) - 1)
        return [
            self._event(
                "response.output_item.added", output_index=self._open.output_index, item=copy.deepcopy(item)
            ),
            self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=self._open.output_index,
                content_index=0,
                part=part,
            ),
        ]

    def _annotate(self, annotations: list[dict[str, Any]]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        assert self._open is not None or not annotations
        for annotation in annotations:
            item = self._open.item(self.output)  # type: ignore[union-attr]
            out.append(
                self._event(
                    "response.output_text.annotation.added",
                    item_id=item["id"],
                    output_index=self._open.output_index,  # type: ignore[union-attr]
                    content_index=0,
                    annotation_index=len(self._annotations),
                    annotation=annotation,
                )
            )
            self._annotations.append(annotation)
        return out

    def _close_text_item(self, status: str) -> list[StreamEvent]:
        assert self._open is not None
        prefix: list[StreamEvent] = []
        if self._open.kind == "final" and self.citations is not None:
            held, annotations = self.citations.flush()  # text kept back as a possible citation
            prefix = self._append_text("final", held) + self._annotate(annotations)
        return prefix + self._close_text_body(status)

    def _close_text_body(self, status: str) -> list[StreamEvent]:
        assert self._open is not None
        item, index, text = self._open.item(self.output), self._open.output_index, self._open.text
        if self._open.kind == "reasoning":
            part = {"type": "reasoning_text", "text": text}
            done = self._event(
                "response.reasoning_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=text,
            )
        else:
            logprobs = self._open.logprobs
            annotations = self._annotations if self._open.kind == "final" else []
            self._annotations = []
            part = {"type": "output_text", "text": text, "annotations": annotations, "logprobs": logprobs}
            done = self._event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=text,
                logprobs=logprobs,
            )
        item["content"] = [part]
        item["status"] = status
        return [
            done,
            self._event(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=part,
            ),
            self._event("response.output_item.done", output_index=index, item=copy.deepcopy(item)),
        ]

    # -- built-in tool calls the server runs --------------------------------------------------

    def _start_tool_call(self, event: ServerToolStarted) -> list[StreamEvent]:
        item = started_item(event)
        self.output.append(item)
        index = len(self.output) - 1
        self._tool_items[event.call.call_id] = index
        kind = item["type"].removesuffix("_call")  # web_search, code_interpreter
        out = [
            self._event("response.output_item.added", output_index=index, item=copy.deepcopy(item)),
            self._event(f"response.{kind}_call.in_progress", output_index=index, item_id=item["id"]),
        ]
        if kind == "web_search":
            item["status"] = "searching"
            ids = {"output_index": index, "item_id": item["id"]}
            out.append(self._event("response.web_search_call.searching", **ids))
        else:
            ids = {"output_index": index, "item_id": item["id"]}
            out += [
                self._event("response.code_interpreter_call_code.delta", **ids, delta=item["code"]),
                self._event("response.code_interpreter_call_code.done", **ids, code=item["code"]),
                self._event("response.code_interpreter_call.interpreting", **ids),
            ]
            item["status"] = "interpreting"
        return out

    def _finish_tool_call(self, event: ServerToolFinished) -> list[StreamEvent]:
        index = self._tool_items.get(event.call.call_id)
        if index is None:
            return []
        item = self.output[index]
        if item["type"] == "mcp_call":
            mcp_items.finish_call(item, event.result.output, event.result.details.get("error"))
            return self._steps(mcp_items.call_finished_steps(item, index))
        finish_item(item, event)
        kind = item["type"].removesuffix("_call")
        return [
            self._event(f"response.{kind}_call.completed", output_index=index, item_id=item["id"]),
            self._event("response.output_item.done", output_index=index, item=copy.deepcopy(item)),
        ]

    # -- MCP calls ----------------------------------------------------------------------------

    def _mcp_names(self, call: Any) -> tuple[str, str]:
        """(server label, the tool's own name) of a call to an MCP server's namespace."""
        tool = self.mcp_tools[call.namespace]
        info = tool.tool_for(call)
        return tool.label, info.name if info is not None else call.function

    def _start_mcp_call(self, event: ServerToolStarted) -> list[StreamEvent]:
        call = event.call
        label, name = self._mcp_names(call)
        ids = {"call_id": call.call_id, "recipient": call.recipient}
        item = mcp_items.call_item(label, name, call.arguments, **ids)
        self.output.append(item)
        index = len(self.output) - 1
        self._tool_items[call.call_id] = index
        return self._steps(mcp_items.call_started_steps(item, index))

    def _request_approval(self, event: ServerToolApprovalRequested) -> list[StreamEvent]:
        call = event.call
        label, name = self._mcp_names(call)
        item = mcp_items.approval_request_item(
            label, name, call.arguments, call_id=call.call_id, recipient=call.recipient
        )
        self.output.append(item)
        return self._steps(mcp_items.approval_request_steps(item, len(self.output) - 1))

    # -- function calls -----------------------------------------------------------------------

    def _open_function_call(self, tool_index: int, call_id: str, name: str) -> list[StreamEvent]:
        item = {
            "type": "function_call",
            "id": new_id("fc"),
            "call_id": call_id,
            "name": name,
            "arguments": "",
            "status": "in_progress",
        }
        self.output.append(item)
        self._open = _OpenItem(kind="function_call", output_index=len(self.output) - 1, tool_index=tool_index)
        return [
            self._event("response.output_item.added", output_index=self._open.output_index, item=dict(item))
        ]

    def _arguments_delta(self, tool_index: int, text: str) -> list[StreamEvent]:
        if not text or self._open is None or self._open.tool_index != tool_index:
            return []
        self._open.text += text
        item = self._open.item(self.output)
        item["arguments"] = self._open.text
        return [
            self._event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=self._open.output_index,
                delta=text,
            )
        ]

    def _finish_function_call(self, tool_index: int, arguments: str) -> list[StreamEvent]:
        if self._open is None or self._open.tool_index != tool_index:
            return []
        self._open.text = arguments
        return self._close("completed")

    def _close_function_call(self, status: str) -> list[StreamEvent]:
        assert self._open is not None
        item, index = self._open.item(self.output), self._open.output_index
        item["arguments"] = self._open.text
        item["status"] = status
        return [
            self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            ),
            self._event("response.output_item.done", output_index=index, item=dict(item)),
        ]

    def _close(self, status: str) -> list[StreamEvent]:
        if self._open is None:
            return []
        out = (
            self._close_function_call(status)
            if self._open.kind == "function_call"
            else self._close_text_item(status)
        )
        self._open = None
        return out

    # -- the end ------------------------------------------------------------------------------

    def finish(
        self,
        status: TerminalStatus,
        *,
        usage: dict[str, Any] | None,
        incomplete_reason: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> list[StreamEvent]:
        """Close the open item and emit the one terminal event."""
        assert not self._finished, "a response has exactly one terminal event"
        self._finished = True
        out = self._close("completed" if status == "completed" else "incomplete")
        self.response["status"] = status
        if usage is not None:
            self.response["usage"] = usage
        if status == "completed":
            self.response["completed_at"] = int(time.time())
        if status == "incomplete":
            self.response["incomplete_details"] = {"reason": incomplete_reason or "max_output_tokens"}
        if error is not None:
            self.response["error"] = error
        terminal = {
            "completed": "response.completed",
            "incomplete": "response.incomplete",
            "failed": "response.failed",
            # The stream protocol has no cancelled event; a cancelled stream ends as a failure
            # whose response says `cancelled`, so that clients stop waiting.
            "cancelled": "response.failed",
        }[status]
        out.append(self._event(terminal, response=self._snapshot()))
        return out

    def restate_failed(self, terminal: list[StreamEvent], error: dict[str, Any]) -> list[StreamEvent]:
        """`finish`'s events, their terminal event (not sent yet) turned into a failure: the answer
        was made but what followed it (keeping it) failed, and the client must not think it kept."""
        self.response["status"] = "failed"
        self.response["error"] = error
        last = terminal[-1]
        failed = {"type": "response.failed", "sequence_number": last["sequence_number"]}
        return [*terminal[:-1], {**failed, "response": self._snapshot()}]
