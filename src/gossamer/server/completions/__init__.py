"""Legacy Completions on raw prompts: text or token ids in, no chat template."""
