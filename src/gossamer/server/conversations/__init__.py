"""OpenAI's Conversations API, durable in the Responses store's SQLite file (see store.py)."""
