"""Tools the server runs itself: gpt-oss's built-in `browser` and `python`, behind one small protocol.

    tools = ServerTools.from_settings(settings)        # once per server (tools/settings.py)
    toolbox = tools.toolbox(["browser"], history)      # once per request: fresh per-conversation state
    turn = ToolLoopTurn(first_turn, pipeline, spec, toolbox, max_calls=8)
    async for delta in turn.deltas(): ...              # harmony events plus ServerToolStarted/Finished

`loop.py` runs a turn, executes each built-in call the model makes (`<|call|>` to `browser.*` or
`python`), appends the call and its result to the conversation in harmony's form and continues,
up to a cap. Every API (Responses, Chat Completions, Ollama) runs the same loop and only
translates its events. A tool is anything with the `ServerTool` protocol (protocol.py), so remote
tools (MCP) can join the loop later without it changing.
"""
