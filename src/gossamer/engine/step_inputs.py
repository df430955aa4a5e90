"""One flat set of tensors per engine step (nano-vllm's prepare_prefill/prepare_decode in one).

Every scheduled sequence contributes its rows to one token list: the tokens of its prompt chunk,
its one decode token, or its last token followed by draft tokens to verify. Attention needs, per
sequence, where its rows sit in that list, how long it is after the step and its block tables;
the KV writes need each row's cache slot. All of it is built here once and read by every layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gossamer.engine.scheduler import ScheduledSeq


@dataclass(frozen=True)
class StepInputs:
    input_ids: torch.Tensor  # [N] long
    positions: torch.Tensor  # [N] long
    query_start: torch.Tensor  # [S + 1] int32: sequence s owns rows query_start[s] .. query_start[s + 1] - 1
    seq_lens: torch.Tensor  # [S] int32: its positions in the cache after this step (its rows are the last)
    full_block_tables: torch.Tensor | None  # [S, max_blocks] int32, None without full-attention layers
    sliding_block_tables: torch.Tensor | None  # [S, max_blocks] int32, -1 for blocks out of the window
    full_slot_mapping: torch.Tensor | None  # [N] long: the cache slot each row's K/V goes to
    sliding_slot_mapping: torch.Tensor | None  # [N] long
    logits_rows: torch.Tensor  # [R] long: rows whose next-token logits the step needs, in batch order

    @property
    def num_seqs(self) -> int:
        return self.seq_lens.shape[0]


def _tables(rows: list[list[int | None]]) -> torch.Tensor:
    """Block tables of ragged length -> [S, max_blocks] int32, -1 where a sequence has no block."""
    width = max(len(r) for r in rows)
    return torch.tensor([[-1 if b is None else b for b in r] + [-1] * (width - len(r)) for r in rows],
                        dtype=torch.int32)  # [S, max_blocks]


def _slot_mapping(tables: torch.Tensor, seq_of_row: torch.Tensor, positions: torch.Tensor,
                  block_size: int) -> torch.Tensor:
    blocks = tables[seq_of_row, positions // block_size].long()  # [N]
    assert bool((blocks >= 0).all()), "a row is scheduled on a position without a cache block"
    return blocks * block_size + positions % block_size  # [N]


def prepare_step(batch: list[ScheduledSeq], block_size: int, *, has_full: bool, has_sliding: bool,
                 device: torch.device) -> StepInputs:
    input_ids: list[int] = []
    positions: list[int] = []
    seq_lens: list[int] = []
    query_start = [0]
    logits_rows: list[int] = []
    for item in batch:
        input_ids += item.seq.token_ids[item.start : item.start + item.num_tokens]
        input_ids += item.draft_ids
        query_start.append(len(input_ids))
        seq_lens.append(item.start + item.num_tokens + len(item.draft_ids))
        positions += range(item.start, seq_lens[-1])
        if item.samples:  # the last confirmed token's row, then one per draft token
            logits_rows += range(len(input_ids) - 1 - len(item.draft_ids), len(input_ids))
    counts = torch.tensor(query_start[1:]) - torch.tensor(query_start[:-1])  # [S]
    seq_of_row = torch.repeat_interleave(torch.arange(len(batch)), counts)  # [N]
    pos = torch.tensor(positions, dtype=torch.long)  # [N]
    full_tables = _tables([item.seq.full_block_table for item in batch]) if has_full else None
    sliding_tables = _tables([item.seq.sliding_block_table for item in batch]) if has_sliding else None

    def to_device(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.to(device)

    return StepInputs(
        input_ids=torch.tensor(input_ids, dtype=torch.long, device=device),
        positions=pos.to(device),
        query_start=torch.tensor(query_start, dtype=torch.int32, device=device),
        seq_lens=torch.tensor(seq_lens, dtype=torch.int32, device=device),
        full_block_tables=to_device(full_tables),
        sliding_block_tables=to_device(sliding_tables),
        full_slot_mapping=to_device(None if full_tables is None
                                    else _slot_mapping(full_tables, seq_of_row, pos, block_size)),
        sliding_slot_mapping=to_device(None if sliding_tables is None
                                       else _slot_mapping(sliding_tables, seq_of_row, pos, block_size)),
        logits_rows=torch.tensor(logits_rows, dtype=torch.long, device=device),
    )
