"""Chat Completions: protocol types, request conversion, harmony streaming per choice, serving, router."""
