"""Grammar-constrained decoding: the output can only be what the request allows.

    plan.py        request -> which grammar (harmony turn or raw completion), refusals as ConstraintError
    harmony.py     the grammar of one harmony reply: free thoughts, then an answer or an offered call
    formats.py     JSON Schema / json_object / regex / choice / Lark or GBNF -> llguidance sub-grammars
    strict.py      OpenAI's `strict: true` rules, checked before compiling
    compile.py     validation and a cache of compiled grammars keyed by content
    constraint.py  per-sequence state the engine masks with: fill a bitmask, accept a token, budget
    tokenizer.py   o200k_harmony as llguidance sees it (special tokens by name)

The engine knows none of this: it calls `SamplingParams.constraint.new()` per sequence, then
`fill_bitmask` before and `accept` after each sampled token (engine/masks.py, engine/engine.py).
Built on llguidance, chosen over xgrammar by measurement (benchmarks/RESULTS.md): it names
harmony's special tokens inside a grammar, and compiles a schema in about a millisecond (lazily)
where xgrammar took ~80 ms.
"""
