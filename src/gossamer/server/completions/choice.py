"""One completion choice as its engine outputs arrive: text, logprob rows and (as vLLM has them) token ids.

vLLM's token fields (vllm/entrypoints/openai/completion/protocol.py) are what a Gossamer front
reads from the Gossamer servers behind it (gossamer/upstream/gossamer.py), so they follow vLLM:
`token_ids` are every token of the delta, the stop token included; with `return_token_ids` the
logprob rows cover those same tokens (stop token included), so the two line up one to one; with
`return_tokens_as_token_ids` logprob tokens are spelt `token_id:N`; `stop_reason` is the stop
token id or the stop string that ended the choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gossamer.engine.protocol import RequestOutput
from gossamer.harmony.tokenizer import TokenTable
from gossamer.server.detokenizer import IncrementalDetokenizer, token_string
from gossamer.turn.stop_strings import StopMatcher

_ROW_KEYS = ("tokens", "token_logprobs", "top_logprobs", "text_offset")


def empty_rows() -> dict[str, list[Any]]:
    return {key: [] for key in _ROW_KEYS}


@dataclass(frozen=True)
class TokenView:
    """How a request wants its tokens shown."""

    num_top: int | None = None  # logprobs: None for none, else the top k per token
    every_token: bool = False  # return_token_ids: logprob rows for stop tokens too
    ids_as_tokens: bool = False  # return_tokens_as_token_ids: "token_id:N" in the logprob rows


@dataclass(frozen=True)
class ChoiceDelta:
    text: str
    token_ids: list[int]  # every token of this delta, the stop token included
    rows: dict[str, list[Any]]  # logprob rows


@dataclass
class TextChoice:
    index: int
    detokenizer: IncrementalDetokenizer
    stop: StopMatcher | None
    stop_ids: frozenset[int]
    num_tokens: int = 0
    done: bool = False
    finish_reason: str | None = None
    stop_reason: int | str | None = None  # the stop token id or stop string that ended it
    offset: int = 0  # characters of text produced so far (logprobs' text_offset)
    token_ids: list[int] = field(default_factory=list)
    prompt_ids_sent: bool = False  # a stream sends the prompt's ids once, in the choice's first chunk
    _text_in: str = ""  # text before stop strings were applied, to name the one that matched
    _num_chars_out: int = 0
    logprobs: dict[str, list[Any]] = field(default_factory=empty_rows)

    def step(self, output: RequestOutput, table: TokenTable, view: TokenView) -> ChoiceDelta:
        """This output's new text, token ids and logprob rows."""
        if self.done:
            return ChoiceDelta("", [], empty_rows())
        token_ids = list(output.token_ids)
        # The protocol allows the stop token to be named only in stop_token_id: it is a token all the same.
        if output.finished and output.stop_token_id is not None and output.stop_token_id not in token_ids:
            token_ids.append(output.stop_token_id)
        self.num_tokens += len(token_ids)
        self.token_ids.extend(token_ids)
        text = self.detokenizer.push([t for t in token_ids if t not in self.stop_ids])  # stops are not text
        rows = self._rows(output, token_ids, table, view) if view.num_top is not None else empty_rows()
        if output.finished:
            text += self.detokenizer.flush()
        if self.stop is not None:
            self._text_in += text
            text = self.stop.push(text) + (self.stop.flush() if output.finished else "")
            self._num_chars_out += len(text)
            if self.stop.stopped:
                # The matcher cuts just before the stop string: what follows the shown text is it.
                rest = self._text_in[self._num_chars_out :]
                matched = next((s for s in self.stop.stops if rest.startswith(s)), None)
                self.done, self.finish_reason, self.stop_reason = True, "stop", matched
        if output.finished and not self.done:
            self.done = True
            self.finish_reason = "length" if output.finish_reason == "length" else "stop"
            self.stop_reason = output.stop_token_id if self.finish_reason == "stop" else None
        self.offset += len(text)
        for key, values in rows.items():
            self.logprobs[key].extend(values)
        return ChoiceDelta(text, token_ids, rows)

    def _rows(
        self, output: RequestOutput, token_ids: list[int], table: TokenTable, view: TokenView
    ) -> dict[str, list[Any]]:
        rows = empty_rows()
        by_token = list(output.logprobs or ())
        offset = self.offset
        for i, token_id in enumerate(token_ids):
            if token_id in self.stop_ids and not view.every_token:
                continue
            lp = by_token[i] if i < len(by_token) and by_token[i].token_id == token_id else None
            if lp is None and not view.every_token:
                continue
            token = self._spell(table, token_id, view)
            rows["tokens"].append(token)
            rows["token_logprobs"].append(lp.logprob if lp else None)
            top = {self._spell(table, t, view): v for t, v in lp.top[: view.num_top]} if lp else None
            rows["top_logprobs"].append(top)
            rows["text_offset"].append(offset)
            offset += len(token_string(table, token_id))
        return rows

    @staticmethod
    def _spell(table: TokenTable, token_id: int, view: TokenView) -> str:
        return f"token_id:{token_id}" if view.ids_as_tokens else token_string(table, token_id)
