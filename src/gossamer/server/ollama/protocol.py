"""Ollama's request bodies (pydantic, lenient: unknown fields are ignored as Ollama does)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Options(_Lenient):
    # NaN and Infinity parse as floats; an unbounded field (the penalties) would hand them on to
    # the engine, which refuses them only after the request was prepared (and a scripted or
    # upstream engine not at all).
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    min_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    num_ctx: int | None = Field(default=None, gt=0)
    num_predict: int | None = None  # -1 (or absent): until the model stops or the context is full
    stop: list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ToolCallFunction(_Lenient):
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class ToolCall(_Lenient):
    id: str | None = None
    function: ToolCallFunction


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | None = ""
    thinking: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    images: list[str] | None = None


class FunctionSpec(_Lenient):
    name: str
    description: str | None = ""
    parameters: dict[str, Any] | None = None


class Tool(_Lenient):
    type: Literal["function"] = "function"
    function: FunctionSpec


Think = bool | Literal["low", "medium", "high"] | None


class ChatRequest(_Lenient):
    model: str
    messages: list[ChatMessage] = Field(default_factory=list)
    tools: list[Tool] | None = None
    format: Literal["json", ""] | dict[str, Any] | None = None
    options: Options = Field(default_factory=Options)
    stream: bool = True
    think: Think = None
    keep_alive: str | int | float | None = None


class GenerateRequest(_Lenient):
    model: str
    prompt: str | None = ""
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool = False
    format: Literal["json", ""] | dict[str, Any] | None = None
    options: Options = Field(default_factory=Options)
    stream: bool = True
    think: Think = None
    images: list[str] | None = None
    keep_alive: str | int | float | None = None


class ModelRequest(_Lenient):
    # Ollama accepts the older `name` too.
    model: str | None = None
    name: str | None = None

    @property
    def model_name(self) -> str | None:
        return self.model or self.name


class PullRequest(ModelRequest):
    insecure: bool = False
    stream: bool = True
