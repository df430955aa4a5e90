"""The Responses API: stateful, durable, streamed event for event (POST/GET/DELETE /v1/responses)."""
