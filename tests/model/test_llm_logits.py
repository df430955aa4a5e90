"""`from gossamer import LLM`: logits for a token list, in float32, of shape [N, vocab]."""

from __future__ import annotations

import pytest
import torch

import gossamer
import gossamer.llm
from gossamer.errors import GossamerError
from tests.model.oracle import load_reference, reference_logits


@pytest.fixture(scope="module")
def llm(tiny_checkpoint):
    return gossamer.LLM(tiny_checkpoint, dtype="float32")


def test_logits_match_transformers(llm, tiny_hf_checkpoint):
    ids = [*range(199990, 200010), 17, 4, 99999]
    logits = llm.logits(ids)
    assert logits.dtype == torch.float32 and logits.shape == (len(ids), 201088)
    expected = reference_logits(load_reference(tiny_hf_checkpoint), torch.tensor(ids))
    assert (logits - expected).abs().max().item() <= 1e-3


def test_long_inputs_are_prefilled_in_chunks(llm, monkeypatch):
    ids = torch.randint(0, 201088, (150,), generator=torch.Generator().manual_seed(2))
    whole = llm.logits(ids)
    monkeypatch.setattr(gossamer.llm, "_PREFILL_CHUNK", 32)
    assert (llm.logits(ids) - whole).abs().max().item() <= 1e-4


def test_accepts_a_tensor_and_a_torch_dtype(tiny_checkpoint):
    llm = gossamer.LLM(str(tiny_checkpoint), dtype=torch.bfloat16)
    assert llm.model.dtype == torch.bfloat16
    logits = llm.logits(torch.tensor([1, 2, 3]))
    assert logits.dtype == torch.float32 and logits.shape == (3, 201088)


@pytest.mark.parametrize(
    ("ids", "message"), [([], "at least one"), ([5, 201088], "must lie in"), ([-1], "must lie")]
)
def test_bad_token_ids(llm, ids, message):
    with pytest.raises(GossamerError, match=message):
        llm.logits(ids)


def test_bad_dtype_and_path(tiny_checkpoint, tmp_path):
    with pytest.raises(GossamerError, match="unknown dtype"):
        gossamer.LLM(tiny_checkpoint, dtype="int8")
    with pytest.raises(GossamerError):
        gossamer.LLM(tmp_path / "no-such-model")
