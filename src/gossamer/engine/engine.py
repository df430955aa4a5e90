"""The synchronous engine core: requests in, one step at a time, token deltas out.

`step()` is the whole loop: schedule, run the model, sample, postprocess. It is driven by the
async engine's background thread for the server and directly by `LLM.generate` offline.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import torch

from gossamer.engine.block_manager import BlockManager
from gossamer.engine.config import EngineConfig
from gossamer.engine.kv_cache import KVCache, plan_cache, resolve_kv_cache_memory
from gossamer.engine.latency import ITL_BUCKETS_S, TTFT_BUCKETS_S, Histogram
from gossamer.engine.masks import MaskFiller
from gossamer.engine.model_runner import ModelRunner
from gossamer.engine.prompt_lookup import PromptLookup
from gossamer.engine.protocol import EngineStats, RequestOutput, RequestRejected, SamplingParams
from gossamer.engine.sampler import SampledToken, SamplingRow, sample
from gossamer.engine.scheduler import ScheduledSeq, Scheduler
from gossamer.engine.sequence import Sequence, SequenceStatus

logger = logging.getLogger(__name__)

MAX_LOGPROBS = 20


@dataclass
class _Request:
    request_id: str
    seqs: list[Sequence]
    pending_forks: list[Sequence] = field(default_factory=list)  # n > 1: admitted after the prefill


class EngineCore:
    def __init__(self, model: torch.nn.Module, config: EngineConfig | None = None) -> None:
        config = config or EngineConfig()
        self.config = config
        self.model_config = model.config
        self.max_context_length = min(self.model_config.max_context_length,
                                      config.max_context_length or self.model_config.max_context_length)
        layout = plan_cache(
            self.model_config,
            memory_bytes=resolve_kv_cache_memory(config.kv_cache_memory_bytes),
            dtype=model.dtype,
            block_size=config.block_size,
            max_num_seqs=config.max_num_seqs,
            max_num_batched_tokens=config.max_num_batched_tokens,
            max_context_length=self.max_context_length,
        )
        self.cache = KVCache(layout, self.model_config, model.dtype, model.device)
        self.block_manager = BlockManager(
            block_size=config.block_size,
            num_full_blocks=layout.num_full_blocks,
            num_sliding_blocks=layout.num_sliding_blocks,
            sliding_window=layout.sliding_window,
            enable_prefix_caching=config.enable_prefix_caching,
        )
        self.scheduler = Scheduler(self.block_manager, max_num_seqs=config.max_num_seqs,
                                   max_num_batched_tokens=config.max_num_batched_tokens,
                                   max_prefill_tokens_while_decoding=config.max_prefill_tokens_while_decoding)
        self.runner = ModelRunner(model, self.cache)
        self.lookup = PromptLookup(config.num_speculative_tokens, config.prompt_lookup_min,
                                   config.prompt_lookup_max, config.speculative_row_cost)
        self.masks = MaskFiller(self.model_config.vocab_size)
        self.requests: dict[str, _Request] = {}
        self._seq_ids = itertools.count()
        # A whole sequence must fit the full-attention pool at once (or it could never finish).
        cache_tokens = layout.num_full_blocks * config.block_size if layout.full_layers else None
        self.max_sequence_tokens = min(self.max_context_length, cache_tokens or self.max_context_length)
        self.num_prompt_tokens_total = 0
        self.num_cached_tokens_total = 0
        self.num_finished = 0
        self.num_aborted = 0
        self.num_draft_tokens = 0
        self.num_accepted_draft_tokens = 0
        self.time_to_first_token = Histogram(TTFT_BUCKETS_S)
        self.inter_token_latency = Histogram(ITL_BUCKETS_S)

    # ----- requests
    def validate(self, prompt_ids: list[int], params: SamplingParams) -> int:
        """Raise RequestRejected for a request that can never run; return its resolved max_tokens."""
        vocab = self.model_config.vocab_size
        if not prompt_ids:
            raise RequestRejected("the prompt is empty", field="prompt_ids")
        if any(not isinstance(t, int) or not 0 <= t < vocab for t in prompt_ids):
            raise RequestRejected(f"prompt token ids must be integers in [0, {vocab})", field="prompt_ids")
        _check_params(params, vocab)
        limit = self.max_sequence_tokens
        which = "context length" if limit == self.max_context_length else "KV cache capacity"
        num_prompt = len(prompt_ids)
        if num_prompt >= limit:
            raise RequestRejected(
                f"the prompt has {num_prompt} tokens; the {which} is {limit} tokens "
                "(prompt plus at least one generated token must fit)", field="prompt_ids", limit=limit)
        if params.max_tokens is None:
            return limit - num_prompt
        if num_prompt + params.max_tokens > limit:
            raise RequestRejected(
                f"the prompt ({num_prompt} tokens) plus max_tokens ({params.max_tokens}) is "
                f"{num_prompt + params.max_tokens} tokens, above the {which} of {limit} tokens",
                field="max_tokens", limit=limit)
        return params.max_tokens

    def add_request(self, request_id: str, prompt_ids: list[int], params: SamplingParams) -> None:
        if request_id in self.requests:
            raise RequestRejected(f"request id {request_id!r} is already in use", field=None)
        max_tokens = self.validate(prompt_ids, params)
        seqs = [self._new_seq(request_id, i, prompt_ids, params, max_tokens) for i in range(params.n)]
        request = _Request(request_id, seqs, pending_forks=seqs[1:])
        self.requests[request_id] = request
        # The other n - 1 sequences wait until the first one's prompt is in the cache, then find
        # it through the prefix cache: they share its prompt blocks instead of recomputing them.
        self.scheduler.add(seqs[0])
        self.num_prompt_tokens_total += len(prompt_ids)

    def _new_seq(self, request_id: str, index: int, prompt_ids: list[int], params: SamplingParams,
                 max_tokens: int) -> Sequence:
        seed = params.seed + index if params.seed is not None else random.getrandbits(63)
        constraint = params.constraint.new() if params.constraint is not None else None
        return Sequence(next(self._seq_ids), request_id, index, list(prompt_ids), len(prompt_ids), params,
                        max_tokens, seed=seed, arrival_s=time.monotonic(), constraint=constraint)

    def abort_request(self, request_id: str) -> list[RequestOutput]:
        request = self.requests.pop(request_id, None)
        if request is None:
            return []
        outputs = []
        for seq in request.seqs:
            self.lookup.forget(seq)
            if not seq.is_finished:
                self.scheduler.remove(seq)
                self._finish(seq, "abort")
                outputs.append(self._output(seq, [], []))
        self.num_aborted += 1
        return outputs

    def has_unfinished(self) -> bool:
        return bool(self.requests)

    # ----- the loop
    def step(self) -> list[RequestOutput]:
        batch = self.scheduler.schedule()
        if not batch:
            return []
        pending_masks = self.masks.start(batch)  # grammar masks, filled while the model runs
        logits = self.runner.run(batch)  # [R, vocab]: per sampling item, its last row and one per draft
        masks = pending_masks.result() if pending_masks is not None else {}
        rows = [row for item in batch if item.samples
                for row in _sampling_rows(item, masks.get(item.seq.seq_id))]
        with self.runner.torch_on_one_thread():  # the sampler's operations too (see model_runner.py)
            sampled = iter(sample(logits, rows))
        now = time.monotonic()
        outputs = []
        for item in batch:
            tokens = [next(sampled) for _ in range(1 + len(item.draft_ids))] if item.samples else []
            output = self._postprocess(item, tokens, now)
            if output is not None:
                outputs.append(output)
        self._propose_drafts()
        return outputs

    def _postprocess(self, item: ScheduledSeq, tokens: list[SampledToken], now: float
                     ) -> RequestOutput | None:
        """Take a scheduled item's sampled tokens: the verified drafts and one more, up to a stop."""
        seq = item.seq
        num_accepted = _num_accepted(item.draft_ids, tokens)
        if item.draft_ids:
            self.num_draft_tokens += len(item.draft_ids)
            self.num_accepted_draft_tokens += num_accepted
            self.lookup.record(seq, len(item.draft_ids), num_accepted)
        emitted = []
        for token in tokens[: num_accepted + 1]:
            seq.append_token(token.token_id)
            if seq.constraint is not None:
                seq.constraint.accept(token.token_id)
            emitted.append(token)
            if self._reached_end(seq, token.token_id):
                break
        # The accepted drafts' K/V are in the cache; a rejected draft's slots get overwritten later.
        self.scheduler.on_computed(seq, min(item.start + item.num_tokens + num_accepted, seq.num_tokens))
        if not emitted:
            return None  # a prefill chunk that does not reach the prompt's end
        self._observe_latency(seq, len(emitted), now)
        if seq.index == 0 and seq.num_output_tokens == len(emitted):  # the prompt is done: its cache hit
            self.num_cached_tokens_total += seq.num_cached_tokens or 0
        if seq.is_finished:
            self.scheduler.remove(seq)
            self.lookup.forget(seq)
        output = self._output(seq, [t.token_id for t in emitted], [t.logprob for t in emitted if t.logprob])
        request = self.requests[seq.request_id]
        if seq.index == 0 and request.pending_forks:
            for fork in reversed(request.pending_forks):  # ahead of later requests, in index order
                self.scheduler.add(fork, front=True)
            request.pending_forks = []
        if all(s.is_finished for s in request.seqs):
            del self.requests[seq.request_id]
            self.num_finished += 1
        return output

    def _reached_end(self, seq: Sequence, token_id: int) -> bool:
        """Finish seq if token_id (just appended) stops it or it is as long as it may get."""
        params = seq.params
        if token_id in params.stop_token_ids and not params.ignore_eos:
            seq.stop_token_id = token_id
            self._finish(seq, "stop")
        elif seq.num_output_tokens >= seq.max_tokens or seq.num_tokens >= self.max_sequence_tokens:
            self._finish(seq, "length")
        return seq.is_finished

    def _observe_latency(self, seq: Sequence, num_new: int, now: float) -> None:
        if seq.last_token_s is None:
            self.time_to_first_token.observe(now - seq.arrival_s)
        else:  # several tokens in one step (accepted drafts) share the step's gap
            self.inter_token_latency.observe((now - seq.last_token_s) / num_new, times=num_new)
        seq.last_token_s = now

    def _propose_drafts(self) -> None:
        """Draft tokens for the next step of each decoding sequence (prompt lookup), where it pays."""
        decoding = [s for s in self.scheduler.running if s.num_computed_tokens == s.num_tokens - 1]
        small_batch = len(decoding) <= self.config.speculative_max_seqs
        for seq in decoding:
            seq.draft_ids = ()
            wanted = seq.params.speculative if seq.params.speculative is not None else self.config.speculative
            # A constrained sequence does not speculate: its drafts would need a mask per draft row.
            if small_batch and wanted and seq.constraint is None:
                # Room for the drafts plus the token after them, within max_tokens and the cache.
                room = min(seq.max_tokens - seq.num_output_tokens,
                           self.max_sequence_tokens - seq.num_tokens) - 1
                seq.draft_ids = self.lookup.propose(seq, room)

    def _finish(self, seq: Sequence, reason: str) -> None:
        seq.status = SequenceStatus.FINISHED
        seq.finish_reason = reason

    def _output(self, seq: Sequence, token_ids: list[int], logprobs: list) -> RequestOutput:
        return RequestOutput(
            request_id=seq.request_id,
            index=seq.index,
            token_ids=tuple(token_ids),
            logprobs=tuple(logprobs) if seq.params.logprobs is not None else None,
            finished=seq.is_finished,
            finish_reason=seq.finish_reason,
            stop_token_id=seq.stop_token_id,
            num_prompt_tokens=seq.num_prompt_tokens,
            num_cached_tokens=seq.num_cached_tokens or 0,
        )

    def stats(self) -> EngineStats:
        manager = self.block_manager
        total = manager.num_total_blocks
        free = manager.num_free_blocks
        return EngineStats(
            num_running=len(self.scheduler.running),
            num_waiting=len(self.scheduler.waiting),
            kv_usage=(total - free) / total if total else 0.0,
            num_free_blocks=free,
            num_total_blocks=total,
            prefix_hit_rate=(self.num_cached_tokens_total / self.num_prompt_tokens_total
                             if self.num_prompt_tokens_total else 0.0),
            num_aborted=self.num_aborted,
            num_finished=self.num_finished,
            time_to_first_token=self.time_to_first_token.snapshot(),
            inter_token_latency=self.inter_token_latency.snapshot(),
            num_draft_tokens=self.num_draft_tokens,
            num_accepted_draft_tokens=self.num_accepted_draft_tokens,
        )


def _sampling_rows(item: ScheduledSeq, mask: torch.Tensor | None = None) -> list[SamplingRow]:
    """One row for the sequence's next token, then one after each draft token (as if it were accepted).

    mask: the sequence's allowed next tokens (its grammar's); a constrained sequence has no drafts."""
    seq = item.seq
    params = seq.params
    penalized = bool(params.presence_penalty or params.frequency_penalty)
    counts = seq.output_counts
    rows = []
    for j in range(1 + len(item.draft_ids)):
        if j and penalized:
            counts = counts + Counter([item.draft_ids[j - 1]])
        rows.append(SamplingRow(params, seq.seed, seq.num_output_tokens + j, counts if penalized else None,
                                allowed_bitmask=mask if j == 0 else None))
    return rows


def _num_accepted(draft_ids: tuple[int, ...], tokens: list[SampledToken]) -> int:
    """How many drafts the sampled tokens confirm: row j's token must equal draft j for row j + 1 to count."""
    num = 0
    while num < len(draft_ids) and tokens[num].token_id == draft_ids[num]:
        num += 1
    return num


def _check_params(params: SamplingParams, vocab_size: int) -> None:
    def bad(field: str, why: str) -> RequestRejected:
        return RequestRejected(f"{field} {why}", field=field)

    if not 0 <= params.temperature <= 100:
        raise bad("temperature", f"must be between 0 and 100, got {params.temperature}")
    if not 0 < params.top_p <= 1:
        raise bad("top_p", f"must be in (0, 1], got {params.top_p}")
    if params.top_k is not None and params.top_k < 1:
        raise bad("top_k", f"must be at least 1 (or absent), got {params.top_k}")
    if not 0 <= params.min_p <= 1:
        raise bad("min_p", f"must be in [0, 1], got {params.min_p}")
    if params.max_tokens is not None and params.max_tokens < 1:
        raise bad("max_tokens", f"must be at least 1, got {params.max_tokens}")
    if params.n < 1:
        raise bad("n", f"must be at least 1, got {params.n}")
    if params.logprobs is not None and not 0 <= params.logprobs <= MAX_LOGPROBS:
        raise bad("top_logprobs", f"must be between 0 and {MAX_LOGPROBS}, got {params.logprobs}")
    for name in ("presence_penalty", "frequency_penalty"):
        if not -2 <= getattr(params, name) <= 2:
            raise bad(name, f"must be between -2 and 2, got {getattr(params, name)}")
    for token_id, bias in params.logit_bias.items():
        if not isinstance(token_id, int) or not 0 <= token_id < vocab_size:
            raise bad("logit_bias", f"has token id {token_id!r} outside [0, {vocab_size})")
        if not -100 <= bias <= 100:
            raise bad("logit_bias", f"values must be between -100 and 100, got {bias}")
    if any(not 0 <= t < vocab_size for t in params.stop_token_ids):
        raise bad("stop_token_ids", f"must be token ids in [0, {vocab_size})")
