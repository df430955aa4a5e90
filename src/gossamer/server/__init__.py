"""The HTTP server: OpenAI-compatible (Chat Completions, Completions, Models, Responses) and Ollama APIs."""
