"""Token ids -> text for raw completions and logprobs, without ever splitting a UTF-8 character.

A token may end in the middle of a multi-byte character; its text is held back until the bytes
complete (the offsets trick vLLM and TGI use, over raw token bytes here).
"""

from __future__ import annotations

from gossamer.harmony.tokenizer import TokenTable, token_table


def token_bytes(table: TokenTable, token_id: int) -> bytes:
    data = table.token_bytes[token_id] if 0 <= token_id < len(table.token_bytes) else None
    if data is not None:
        return data
    return table.special_names.get(token_id, "").encode()


def token_string(table: TokenTable, token_id: int) -> str:
    return token_bytes(table, token_id).decode("utf-8", errors="replace")


class IncrementalDetokenizer:
    def __init__(self, skip_special: bool = False) -> None:
        self.table = token_table()
        self.skip_special = skip_special
        self._pending = b""

    def push(self, token_ids: list[int] | tuple[int, ...]) -> str:
        data = b"".join(
            token_bytes(self.table, t)
            for t in token_ids
            if not (self.skip_special and t in self.table.special_names)
        )
        buf = self._pending + data
        # Cut after the last complete character: at most 3 trailing bytes can be an unfinished one.
        for tail in range(min(3, len(buf)) + 1):
            head = buf[: len(buf) - tail]
            try:
                text = head.decode("utf-8")
            except UnicodeDecodeError:
                continue
            self._pending = buf[len(buf) - tail :]
            return text
        # Not valid UTF-8 however we cut (a model can emit any byte sequence): replace, move on.
        self._pending = b""
        return buf.decode("utf-8", errors="replace")

    def flush(self) -> str:
        rest, self._pending = self._pending, b""
        return rest.decode("utf-8", errors="replace")
