"""Fit a conversation into the context: `truncation="auto"` drops the oldest turns, "disabled" refuses.

Peers cut the front of the token sequence, losing the system prompt and the tools first; here
whole turns go, oldest first, and instructions, tools and the last turn always stay.
"""

from __future__ import annotations

import logging

from gossamer.harmony.conversation import Conversation, Message
from gossamer.harmony.render import RenderedPrompt, RenderError, render_conversation
from gossamer.server.responses.errors import bad_request

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


def fit_to_context(conv: Conversation, *, truncation: str, max_context_length: int) -> RenderedPrompt:
    """Render; with truncation `auto` drop the oldest turns until at least one output token fits."""
    num_dropped = 0
    while True:
        try:
            rendered = render_conversation(conv)
        except RenderError as exc:
            raise bad_request(
                f"The conversation cannot be rendered for the model: {exc}", param="input"
            ) from exc
        num_tokens = len(rendered.prompt_ids)
        if num_tokens < max_context_length:
            if num_dropped:
                logger.info("truncation=auto dropped %d turn(s) to fit %d tokens", num_dropped, num_tokens)
            return rendered
        if truncation != "auto":
            raise bad_request(
                f"The input is {num_tokens} tokens but the model's context holds {max_context_length}. "
                "Shorten the input or set truncation to 'auto' to drop the oldest turns.",
                param="input",
                code="context_length_exceeded",
            )
        if not drop_oldest_turn(conv.messages):
            raise bad_request(
                f"The input is {num_tokens} tokens even with truncation 'auto' (only the last turn and "
                f"the instructions left); the model's context holds {max_context_length}.",
                param="input",
                code="context_length_exceeded",
            )
        num_dropped += 1
