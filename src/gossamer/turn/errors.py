"""What a turn refuses before it runs, in the pipeline's own words: each API turns these into its
error shape (OpenAI's JSON, Ollama's `{"error": ...}`, an exception for `LLM.chat`)."""

from __future__ import annotations

from gossamer.errors import GossamerError


class TurnError(GossamerError):
    """A turn that cannot run as asked; the message says why without naming any API's parameters."""


class ContextOverflow(TurnError):
    """The prompt, or the prompt plus the requested output, does not fit the context.

    Refused rather than cut: peers that cut the front of the prompt lose the system prompt and the
    tools first. `max_tokens` is None when the prompt alone is too long.
    """

    def __init__(
        self,
        num_prompt_tokens: int,
        max_tokens: int | None,
        max_context_length: int,
        truncated: bool = False,
    ) -> None:
        self.num_prompt_tokens = num_prompt_tokens
        self.max_tokens = max_tokens
        self.max_context_length = max_context_length
        self.truncated = truncated  # the oldest turns were dropped and it still did not fit
        super().__init__(self.describe())

    def __reduce__(self):  # rebuilt from its fields when it comes back from a render process
        return type(self), (self.num_prompt_tokens, self.max_tokens, self.max_context_length, self.truncated)

    @property
    def prompt_too_long(self) -> bool:
        return self.max_tokens is None

    def describe(self, output_param: str = "the output limit") -> str:
        """The message, naming the front-end's own parameter for the output limit."""
        limit = self.max_context_length
        if self.prompt_too_long:
            return (
                f"This model's maximum context length is {limit} tokens, but the prompt has "
                f"{self.num_prompt_tokens} tokens (at least one token must remain for the answer). "
                "Shorten the prompt."
            )
        total = self.num_prompt_tokens + (self.max_tokens or 0)
        return (
            f"This model's maximum context length is {limit} tokens, but {total} were requested "
            f"({self.num_prompt_tokens} in the prompt, {self.max_tokens} for the completion). "
            f"Lower {output_param} or shorten the prompt."
        )
