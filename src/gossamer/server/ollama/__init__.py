"""The Ollama-native API (`/api/*`): chat, generate, tags, show, ps, pull, delete, version."""

from gossamer.server.ollama.router import router

__all__ = ["router"]
