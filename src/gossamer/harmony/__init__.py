"""Harmony: tokenizer resolution, rendering API conversations to tokens, parsing tokens to events."""
