"""The Python entry point: `LLM(path_or_name)` with `.logits`, `.generate`, `.chat` and streaming.

    from gossamer import LLM
    from gossamer.engine import SamplingParams
    llm = LLM("gossamer-tiny", dtype="float32")
    logits = llm.logits([200006, 17360, 200008])  # float32 [3, vocab]
    [out] = llm.generate("Once upon a time", SamplingParams(temperature=0.0, max_tokens=20))
    reply = llm.chat([{"role": "user", "content": "Hi!"}], reasoning_effort="low")
    print(reply.reasoning, reply.content, reply.tool_calls)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gossamer.errors import GossamerError
from gossamer.model.attention import ContiguousKVCache
from gossamer.model.gpt_oss import GptOss
from gossamer.model.loader import load_model

if TYPE_CHECKING:
    from gossamer.engine.config import EngineConfig
    from gossamer.engine.offline import GenerationOutput, OfflineRunner, Prompt
    from gossamer.engine.protocol import RequestOutput, SamplingParams
    from gossamer.harmony.conversation import Conversation, FunctionTool, Message
    from gossamer.harmony.events import Event, ParsedOutput
    from gossamer.turn import TurnPipeline

_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32,
           "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16}
# Tokens per forward pass in `logits`: bounds the attention scores of a long input.
_PREFILL_CHUNK = 1024


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise GossamerError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


def resolve_model_path(model: str | Path) -> Path:
    """A local directory as is; anything else (gossamer-tiny, gpt-oss-20b, ...) through the hub."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    from gossamer.hub import resolve_model  # lazy: the hub is only needed for model names

    return resolve_model(str(model))


class LLM:
    def __init__(
        self, model: str | Path, dtype: str | torch.dtype = "bfloat16", device: str | torch.device = "cpu"
    ) -> None:
        self.model_path = resolve_model_path(model)
        self.dtype = resolve_dtype(dtype)
        self.device = torch.device(device)
        self.model: GptOss = load_model(self.model_path, dtype=self.dtype, device=self.device)
        self.config = self.model.config

    @torch.inference_mode()
    def logits(self, token_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Next-token logits after each prefix of `token_ids`: float32 [num_tokens, vocab_size] (CPU)."""
        ids = torch.as_tensor(token_ids, dtype=torch.long).flatten().to(self.device)  # [N]
        if ids.numel() == 0:
            raise GossamerError("logits() needs at least one token id")
        vocab_size = self.config.vocab_size
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= vocab_size:
            raise GossamerError(f"token ids must lie in [0, {vocab_size}), got {low}..{high}")
        if ids.numel() > self.config.max_context_length:
            raise GossamerError(
                f"{ids.numel()} tokens exceed the model's context of {self.config.max_context_length}"
            )
        cache = ContiguousKVCache(self.config.num_layers)
        out = torch.empty(ids.numel(), vocab_size, dtype=torch.float32)  # [N, vocab]
        for start in range(0, ids.numel(), _PREFILL_CHUNK):
            chunk = ids[start : start + _PREFILL_CHUNK]  # [n]
            positions = torch.arange(start, start + chunk.numel(), device=self.device)  # [n]
            hidden = self.model(chunk, positions, cache)  # [n, hidden]
            out[start : start + chunk.numel()] = self.model.compute_logits(hidden).cpu()
        return out

    # ----- generation (the engine: paged KV cache, prefix cache, batching, sampling)
    # Settings of the engine behind generate/chat; set before the first call to change them.
    engine_config: EngineConfig | None = None
    _runner: OfflineRunner | None = None
    _pipeline: TurnPipeline | None = None

    def _offline(self) -> OfflineRunner:
        if self._runner is None:
            from gossamer.engine.config import EngineConfig
            from gossamer.engine.engine import EngineCore
            from gossamer.engine.offline import OfflineRunner

            self._runner = OfflineRunner(EngineCore(self.model, self.engine_config or EngineConfig()))
        return self._runner

    def generate(
        self,
        prompts: Prompt | list[Prompt],
        params: SamplingParams | list[SamplingParams] | None = None,
    ) -> list[GenerationOutput]:
        """Complete each prompt (text, or token ids) as one batch; results in prompt order.

        Raises RequestRejected (before anything runs) when a prompt can never fit.
        """
        from gossamer.engine.offline import encode_prompt, normalize_prompts
        from gossamer.engine.protocol import SamplingParams
        from gossamer.grammar.plan import constrain_completion

        prompt_list = normalize_prompts(prompts)
        params_list = params if isinstance(params, list) else [params or SamplingParams()] * len(prompt_list)
        if len(params_list) != len(prompt_list):
            raise GossamerError(f"{len(params_list)} sampling params for {len(prompt_list)} prompts")
        params_list = [constrain_completion(p) for p in params_list]  # vLLM's structured_outputs
        return self._offline().generate([encode_prompt(p) for p in prompt_list], params_list)

    def stream(self, prompt: Prompt, params: SamplingParams | None = None) -> Iterator[RequestOutput]:
        """Generate for one prompt, yielding token deltas as they are sampled."""
        from gossamer.engine.offline import encode_prompt
        from gossamer.engine.protocol import SamplingParams
        from gossamer.grammar.plan import constrain_completion

        return self._offline().stream(encode_prompt(prompt), constrain_completion(params or SamplingParams()))

    def chat(
        self,
        messages: list[Message | dict[str, Any]],
        *,
        tools: list[FunctionTool | dict[str, Any]] | None = None,
        reasoning_effort: str = "medium",
        params: SamplingParams | None = None,
        **conversation: Any,
    ) -> ParsedOutput:
        """One assistant turn in harmony format, parsed: reasoning, content and tool calls.

        `messages` are harmony Message objects or OpenAI-style dicts; extra keywords set
        Conversation fields (instructions, tool_choice, response_format, ...).
        """
        from gossamer.harmony.events import fold

        return fold(list(self.stream_chat(messages, tools=tools, reasoning_effort=reasoning_effort,
                                          params=params, **conversation)))

    def stream_chat(
        self,
        messages: list[Message | dict[str, Any]],
        *,
        tools: list[FunctionTool | dict[str, Any]] | None = None,
        reasoning_effort: str = "medium",
        params: SamplingParams | None = None,
        **conversation: Any,
    ) -> Iterator[Event]:
        """Like `chat`, but yields the harmony decoder's events (reasoning/content deltas, tool calls).

        Raises ContextOverflow (a GossamerError) when the conversation, or it plus max_tokens,
        does not fit the context.
        """
        from gossamer.engine.protocol import SamplingParams
        from gossamer.turn import TurnSpec, decode_outputs

        pipeline = self._turn_pipeline()
        conv = _conversation(messages, tools, reasoning_effort, conversation)
        spec = TurnSpec(conv, params or SamplingParams())
        prepared = pipeline.prepare(spec)
        outputs = self.stream(prepared.prompt_ids, prepared.params)
        for delta in decode_outputs(pipeline, prepared, outputs):
            yield from delta.events

    def _turn_pipeline(self) -> TurnPipeline:
        if self._pipeline is None:
            from gossamer.harmony.tokenizer import load_harmony_encoding
            from gossamer.turn import TurnPipeline

            # Offline, the pipeline only renders, fits and decodes: the runner gives it the context.
            self._pipeline = TurnPipeline(self._offline(), load_harmony_encoding(self.model_path))
        return self._pipeline


def _conversation(
    messages: list[Message | dict[str, Any]],
    tools: list[FunctionTool | dict[str, Any]] | None,
    reasoning_effort: str,
    fields: dict[str, Any],
) -> Conversation:
    from gossamer.harmony.conversation import Conversation, FunctionTool, Message, ToolCallItem

    def to_message(m: Message | dict[str, Any]) -> Message:
        if isinstance(m, Message):
            return m
        if not isinstance(m, dict) or "role" not in m:
            raise GossamerError(f"a message must be a Message or a dict with a 'role', got {m!r}")
        calls = []
        for call in m.get("tool_calls") or []:
            spec = call.get("function", call)  # OpenAI nests name/arguments under "function"
            call_id = call.get("id") or call.get("call_id", "")
            calls.append(ToolCallItem(call_id, spec["name"], spec["arguments"]))
        return Message(role=m["role"], content=m.get("content") or "",
                       reasoning=m.get("reasoning") or m.get("reasoning_content"), tool_calls=calls,
                       tool_call_id=m.get("tool_call_id"), name=m.get("name"))

    def to_tool(t: FunctionTool | dict[str, Any]) -> FunctionTool:
        if isinstance(t, FunctionTool):
            return t
        spec = t.get("function", t)  # OpenAI {"type": "function", "function": {...}} or the inner object
        if "name" not in spec:
            raise GossamerError(f"a tool needs a name, got {t!r}")
        return FunctionTool(spec["name"], spec.get("description") or "", spec.get("parameters"))

    if reasoning_effort not in ("low", "medium", "high"):
        raise GossamerError(f"reasoning_effort must be low, medium or high, got {reasoning_effort!r}")
    try:
        return Conversation(
            messages=[to_message(m) for m in messages],
            tools=[to_tool(t) for t in tools or []],
            reasoning_effort=reasoning_effort,  # type: ignore[arg-type]
            **fields,
        )
    except TypeError as exc:
        raise GossamerError(f"unknown chat option: {exc}") from None
