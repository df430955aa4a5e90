"""vLLM-compatible POST /tokenize and /detokenize."""
