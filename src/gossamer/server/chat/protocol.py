"""Chat Completions request types, in the order of OpenAI's API reference.

Requests are validated here (types, ranges) and converted once into plain objects by
`convert.py`. Answers and chunks are built as plain dicts in `serving.py` (the hot path of
streaming) and checked against OpenAI's OpenAPI description in the tests. Unknown request
fields are accepted and ignored, as OpenAI-compatible servers do, so newer SDKs keep working.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gossamer.server.structured_outputs import GuidedFields


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


def _check_stop(value: str | list[str] | None) -> str | list[str] | None:
    items = [value] if isinstance(value, str) else (value or [])
    if len(items) > 4:
        raise ValueError("at most 4 stop sequences are allowed")
    if any(item == "" for item in items):
        raise ValueError("stop sequences must not be empty")
    return value


def _check_logit_bias(value: dict[str, float] | None) -> dict[str, float] | None:
    for key, bias in (value or {}).items():
        digits = key.strip().removeprefix("-")
        if not (digits.isascii() and digits.isdigit()):  # "²" is a digit to str.isdigit, not to int()
            raise ValueError(f"logit_bias keys must be token ids, got {key!r}")
        if not -100.0 <= bias <= 100.0:
            raise ValueError(f"logit_bias values must lie in [-100, 100], got {bias} for token {key}")
    return value


Stop = Annotated[str | list[str] | None, AfterValidator(_check_stop)]
LogitBias = Annotated[dict[str, float] | None, AfterValidator(_check_logit_bias)]


# -- request ---------------------------------------------------------------------------------------


class TextPart(_Lenient):
    type: Literal["text", "input_text", "output_text"]
    text: str


class RefusalPart(_Lenient):
    """An assistant turn the model refused, replayed by the client (OpenAI accepts it there)."""

    type: Literal["refusal"]
    refusal: str


class OtherPart(_Lenient):
    """Images, audio, files: parsed so the error can name them, then refused in serving."""

    type: str


ContentPart = Annotated[TextPart | RefusalPart | OtherPart, Field(union_mode="left_to_right")]
Content = str | list[ContentPart]


class FunctionCallSpec(_Lenient):
    name: str
    arguments: str = ""


class ToolCallSpec(_Lenient):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallSpec


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Content | None = None
    name: str | None = None
    # assistant turns replayed by the client
    tool_calls: list[ToolCallSpec] | None = None
    function_call: FunctionCallSpec | None = None  # deprecated single call, answered by a "function" message
    reasoning: str | None = None
    reasoning_content: str | None = None
    refusal: str | None = None
    # tool results
    tool_call_id: str | None = None


class FunctionDefinition(_Lenient):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-\.]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(_Lenient):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(_Lenient):
    name: str


class NamedToolChoice(_Lenient):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(_Lenient):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Lenient):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_present(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format of type 'json_schema' needs a 'json_schema' object")
        return self


class StreamOptions(_Lenient):
    include_usage: bool | None = None


class ReasoningOptions(_Lenient):
    effort: Literal["none", "minimal", "low", "medium", "high"] | None = None


Effort = Literal["none", "minimal", "low", "medium", "high"]


class ChatCompletionRequest(GuidedFields, _Lenient):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: LogitBias = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1)
    parallel_tool_calls: bool | None = None
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    reasoning_effort: Effort | None = None
    reasoning: ReasoningOptions | None = None
    response_format: ResponseFormat | None = None
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    stop: Stop = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    tools: list[ToolDefinition] | None = None
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    user: str | None = None
    # vLLM's: chain-of-thought tokens before a constrained reply must answer (default per effort).
    thinking_token_budget: int | None = Field(default=None, ge=0)
