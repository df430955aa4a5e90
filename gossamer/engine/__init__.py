"""The engine: scheduling, KV cache, model running and sampling behind an async interface."""
