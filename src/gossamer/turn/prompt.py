"""A turn's prompt: render the conversation in harmony, fit it to the context, settle max_tokens.

Nothing is ever cut from the front of the token sequence (peers lose the system prompt and the
tools that way): a prompt that does not fit is refused, or, with truncation, whole turns go,
oldest first, while instructions, tools and the last turn always stay.
"""

from __future__ import annotations

import dataclasses
import logging

from openai_harmony import HarmonyEncoding

from gossamer.engine.protocol import SamplingParams
from gossamer.harmony.conversation import Conversation, Message
from gossamer.harmony.render import RenderedPrompt, render_conversation
from gossamer.turn.errors import ContextOverflow

logger = logging.getLogger(__name__)


def drop_oldest_turn(messages: list[Message]) -> bool:
    """Drop the first user turn and what answered it; system and developer messages stay."""
    first = next((i for i, m in enumerate(messages) if m.role not in ("system", "developer")), None)
    if first is None:
        return False
    following_user = next((i for i in range(first + 1, len(messages)) if messages[i].role == "user"), None)
    if following_user is None:
        return False
    del messages[first:following_user]
    return True


def render_to_fit(
    conv: Conversation, encoding: HarmonyEncoding, max_context_length: int, *, truncation: bool
) -> RenderedPrompt:
    """Render; with `truncation`, drop the oldest turns (from `conv`) until one output token fits.

    Raises RenderError for a conversation harmony cannot express, ContextOverflow when it cannot fit.
    """
    num_dropped = 0
    while True:
        rendered = render_conversation(conv, encoding=encoding)
        num_tokens = len(rendered.prompt_ids)
        if num_tokens < max_context_length:
            if num_dropped:
                logger.info("truncation dropped %d turn(s) to fit %d tokens", num_dropped, num_tokens)
            return rendered
        if not truncation or not drop_oldest_turn(conv.messages):
            raise ContextOverflow(num_tokens, None, max_context_length, truncated=truncation)
        num_dropped += 1


def check_fits(num_prompt_tokens: int, max_context_length: int) -> None:
    """A prompt leaves room for at least one output token, or it is refused (for raw prompts)."""
    if num_prompt_tokens >= max_context_length:
        raise ContextOverflow(num_prompt_tokens, None, max_context_length)


def resolve_params(
    params: SamplingParams,
    num_prompt_tokens: int,
    stop_token_ids: list[int],
    max_context_length: int,
    engine_context_length: int,
    *,
    clip_max_tokens: bool,
) -> SamplingParams:
    """The sampling parameters the engine gets: harmony's stop tokens added, max_tokens settled.

    clip_max_tokens: a max_tokens beyond the room left shrinks to it (Responses, Ollama) instead of
    being refused (Chat Completions, as OpenAI does).
    """
    num_prompt = num_prompt_tokens
    room = max_context_length - num_prompt
    max_tokens = params.max_tokens
    if clip_max_tokens:
        max_tokens = room if max_tokens is None else min(max_tokens, room)
    elif max_tokens is not None and max_tokens > room:
        raise ContextOverflow(num_prompt, max_tokens, max_context_length)
    elif max_tokens is None and max_context_length < engine_context_length:
        max_tokens = room  # a tighter context than the engine's (Ollama's num_ctx) bounds the output
    stop_ids = tuple(dict.fromkeys((*stop_token_ids, *params.stop_token_ids)))
    return dataclasses.replace(params, max_tokens=max_tokens, stop_token_ids=stop_ids)
