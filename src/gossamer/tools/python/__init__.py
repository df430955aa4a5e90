"""gpt-oss's `python` tool: code from the chain of thought, run statelessly in a sandbox."""
