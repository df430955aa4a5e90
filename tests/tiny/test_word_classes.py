"""Word classes: other forms of a known word read its class row, a vocabulary grows without
changing what the model writes, and an exported checkpoint comes back as the trainer it was."""

from __future__ import annotations

import random

import pytest
import torch

from gossamer.model.mxfp4 import dequantize
from gossamer.tiny.export import export, hf_state_dict, load_exported
from gossamer.tiny.grow import grow_vocab
from gossamer.tiny.model import VocabMap, trainer_checkpoint
from gossamer.tiny.train import collate
from gossamer.tiny.word_classes import canonical, classes_of, token_classes
from tests.tiny.trainers import perturbed_trainer


@pytest.fixture(scope="module")
def ids(encoding) -> dict[str, int]:
    words = ("weather", " weather", "Weather", " Weather", " Oslo", " in", "?", " quote", "quote")
    out = {}
    for w in words:
        (token,) = encoding.encode(w, allowed_special=set())
        out[w] = token
    return out


def test_a_class_is_the_word_in_any_case_and_spacing(ids: dict[str, int]) -> None:
    assert canonical(b" Weather") == canonical(b"weather") == "weather"
    assert canonical(b"\xe2\x82") is None and canonical(b" \n") is None  # partial UTF-8, whitespace
    names = token_classes()
    assert {names[ids[w]] for w in ("weather", " weather", "Weather", " Weather")} == {"weather"}
    assert names[200006] is None  # <|start|>: specials have no class


def test_unseen_forms_of_a_known_word_read_its_class_row(ids: dict[str, int]) -> None:
    used = sorted([ids[" weather"], ids[" Oslo"], ids["?"]])
    vocab = VocabMap(used, classes_of(used))
    assert vocab.classes == ["?", "oslo", "weather"]
    assert vocab.input_size == vocab.size + 3
    weather_row = vocab.size + vocab.classes.index("weather")
    assert int(vocab.to_inputs(torch.tensor(ids["weather"]))) == weather_row  # unseen form: the class
    assert int(vocab.to_inputs(torch.tensor(ids[" weather"]))) == 1 + used.index(ids[" weather"])
    assert int(vocab.to_inputs(torch.tensor(ids[" quote"]))) == 0  # an unknown word
    assert int(vocab.class_rows[1 + used.index(ids[" weather"])]) == weather_row
    assert int(vocab.to_compact(torch.tensor(ids["weather"]))) == 0  # never an output row
    plain = VocabMap(used)  # no classes: every unseen id is the unknown word
    assert int(plain.to_inputs(torch.tensor(ids["weather"]))) == 0


def test_a_grown_vocabulary_writes_what_the_old_one_did(ids: dict[str, int]) -> None:
    old_ids = sorted(set(range(1000, 1100)) | {ids[" weather"], ids[" Oslo"], ids[" in"]})
    old = perturbed_trainer(VocabMap(old_ids))
    new_ids = sorted({*old_ids, ids["weather"], ids[" quote"]})
    grown = grow_vocab(old, VocabMap(new_ids, classes_of(new_ids))).eval()
    gen = torch.Generator().manual_seed(0)
    tokens = torch.tensor(old_ids)[torch.randint(0, len(old_ids), (2, 30), generator=gen)]  # [B, T]
    mask = torch.ones_like(tokens)
    with torch.no_grad():
        before = old.logits(old.hidden(old.vocab.to_inputs(tokens), mask)).log_softmax(-1)  # [B, T, V_old]
        after = grown.logits(grown.hidden(grown.vocab.to_inputs(tokens), mask)).log_softmax(-1)
    same = [1 + new_ids.index(i) for i in old_ids]
    torch.testing.assert_close(after[..., same], before[..., 1:], atol=1e-5, rtol=0)
    # The new ids hold exactly the share of the unseen mass they had before.
    new = [1 + new_ids.index(i) for i in (ids["weather"], ids[" quote"])]
    unseen_after = torch.logsumexp(torch.cat([after[..., :1], after[..., new]], -1), -1)
    torch.testing.assert_close(unseen_after, before[..., 0], atol=1e-5, rtol=0)
    # "weather" was the unknown word to the old model; it starts as its class, " weather"'s row.
    embed = grown.model.embed_tokens.weight
    weather_class = embed[grown.vocab.size + grown.vocab.classes.index("weather")]
    assert torch.equal(embed[1 + new_ids.index(ids["weather"])], weather_class)
    assert torch.equal(weather_class, old.model.embed_tokens.weight[1 + old_ids.index(ids[" weather"])])
    with pytest.raises(ValueError, match="keeps every seen id"):
        grow_vocab(grown, VocabMap(old_ids))


def test_an_exported_checkpoint_loads_back_as_its_trainer(ids: dict[str, int], tmp_path) -> None:
    used = sorted(set(range(1000, 1100)) | {ids[" weather"], ids[" Oslo"], ids["?"]})
    trainer = perturbed_trainer(VocabMap(used, classes_of(used)))
    with torch.no_grad():  # bf16 values, as an export stores them
        for p in trainer.parameters():
            p.copy_(p.bfloat16().float())
    ckpt = tmp_path / "trainer.pt"
    torch.save(trainer_checkpoint(trainer, seed=3), ckpt)
    export(ckpt, tmp_path / "model")
    back = load_exported(tmp_path / "model")
    assert back.vocab.used_ids == used
    # Classes come back where an unseen id reads them ("Weather" reads "weather"'s row).
    assert "weather" in back.vocab.classes
    ours, theirs = hf_state_dict(trainer), hf_state_dict(back)
    assert ours.keys() == theirs.keys()
    for name in ours:
        if name.endswith("_blocks"):  # same values; a block's scale may be written another way
            stem = name.removesuffix("_blocks")
            a = dequantize(ours[name], ours[f"{stem}_scales"], torch.float32)
            b = dequantize(theirs[name], theirs[f"{stem}_scales"], torch.float32)
            torch.testing.assert_close(a, b, atol=0, rtol=0)
        elif not name.endswith("_scales"):
            torch.testing.assert_close(ours[name], theirs[name], atol=0, rtol=0, msg=name)


def test_class_dropout_feeds_prompt_tokens_as_their_class(ids: dict[str, int]) -> None:
    prompt = [200006, ids[" weather"], ids[" in"], ids[" Oslo"], ids["?"]]
    answer = [ids[" Oslo"], ids[" weather"], 200002]
    used = sorted(set(prompt + answer))
    vocab = VocabMap(used, classes_of(used))
    corpus = [(prompt + answer, [0] * len(prompt) + [1] * len(answer))]
    inputs, targets, _, _ = collate(corpus, [0], vocab, random.Random(0), False, class_dropout=1.0)
    n = len(prompt)
    # Every ordinary prompt token reads its class (or, by TOKEN_DROPOUT, the unknown word)...
    for i in range(1, n):
        assert inputs[0, i] in (vocab.class_rows[targets[0, i]], 0)
    # ...while <|start|> and what the assistant writes are fed as they are.
    assert inputs[0, 0] == targets[0, 0] and inputs[0, n:].tolist() == targets[0, n:].tolist()
    # Copies the assistant writes stay exact when copies are protected.
    kept, _, _, _ = collate(corpus, [0], vocab, random.Random(0), True, class_dropout=1.0)
    assert kept[0, 3] == targets[0, 3] and kept[0, 1] == targets[0, 1]
    assert kept[0, 2] in (vocab.class_rows[targets[0, 2]], 0)
