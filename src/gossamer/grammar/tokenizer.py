"""The o200k_harmony vocabulary as llguidance sees it: every id's bytes, specials by name.

llguidance matches grammars against token bytes; a special token is its name behind the marker
byte 0xFF (not valid UTF-8, so no text can spell it), which lets a grammar name `<|end|>` or
`<|call|>` as tokens while `"<|end|>"` typed as text stays plain text. Building the token trie
over 201,088 ids takes about a second, so it is done once per process (`warm_up` at server start).
"""

from __future__ import annotations

import threading
from functools import lru_cache

import llguidance

from gossamer.harmony.tokenizer import VOCAB_SIZE, encode_text, token_table

# The grammar's own end: harmony never writes <|endoftext|> in a reply, so a harmony grammar ends
# on its explicit <|return|> / <|call|> and this id is only ever allowed after a raw grammar ends.
EOS_NAME = "<|endoftext|>"

_lock = threading.Lock()


class _Vocabulary:
    """What llguidance.TokenizerWrapper reads: per-id bytes and an encoder for prompt healing."""

    def __init__(self) -> None:
        table = token_table()
        self.tokens: list[bytes] = []
        for token_id, data in enumerate(table.token_bytes):
            if data is not None:
                self.tokens.append(data)
            else:
                name = table.special_names.get(token_id, f"<|reserved_{token_id}|>")
                self.tokens.append(b"\xff" + name.encode())
        self.special_token_ids = sorted(table.special_names)
        self.eos_token_id = table.special_ids[EOS_NAME]
        self.bos_token_id = None

    def __call__(self, text: str | bytes) -> list[int]:
        return encode_text(text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text)


@lru_cache(maxsize=1)
def _build() -> llguidance.LLTokenizer:
    return llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Vocabulary()), n_vocab=VOCAB_SIZE)


def ll_tokenizer() -> llguidance.LLTokenizer:
    """The shared llguidance tokenizer (built on first use, ~1 s; thread-safe)."""
    with _lock:
        return _build()


def warm_up() -> None:
    """Build the tokenizer now, so the first constrained request does not pay for it."""
    ll_tokenizer()
