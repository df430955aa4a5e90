"""MCP tools: remote tool servers whose tools the model calls and the server runs, in the tool loop.

    servers  the servers one request may use: a Responses request's `mcp` tools (config.py) and
             the operator's `--mcp NAME=URL` (registry.py), each with its allowed tools and approvals
    client   connect (streamable HTTP, or SSE for older servers), list tools, call one (client.py),
             every failure an `McpFailure` shaped like OpenAI's `MCPToolCallError`; each call its own
             session, bounded in time; a request's server only at public addresses (network.py)
    tool     one server as a `ServerTool` (tool.py): its allowed tools are functions in a harmony
             namespace of their own (`namespace docs { type search = ... }`, the model calls
             `docs.search`), results the model reads, failures as tool errors, approvals asked for

The Responses API's items and events (`mcp_list_tools`, `mcp_call`, approvals) are in
server/responses/mcp_*.py; Chat Completions and Ollama run `--mcp` servers' tools like the
built-in ones (server/server_tools.py). docs/mcp.md has the whole picture.
"""
