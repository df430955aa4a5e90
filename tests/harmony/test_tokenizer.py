"""Vocabulary resolution works with the network blocked, from each local source, in order."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gossamer.harmony import tokenizer
from gossamer.harmony.tokenizer import (
    VOCAB_SHA256,
    VocabularyError,
    _bytes_to_unicode,
    decode_text,
    encode_text,
    load_harmony_encoding,
    reset_encoding_cache,
    resolve_vocab_file,
    tiktoken_from_tokenizer_json,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def vocab_bytes() -> bytes:
    data = tokenizer._read_bpe_openai()
    assert data is not None
    return data


@pytest.fixture(scope="module")
def tokenizer_json(vocab_bytes) -> dict:
    """A Hugging Face tokenizer.json built from the ranks, with harmony's specials added."""
    byte_to_char = _bytes_to_unicode()
    vocab = {}
    for line in vocab_bytes.splitlines():
        token, rank = line.split()
        vocab["".join(byte_to_char[b] for b in base64.b64decode(token))] = int(rank)
    specials = {"<|startoftext|>": 199998, "<|endoftext|>": 199999, "<|return|>": 200002, "<|start|>": 200006}
    vocab.update(specials)
    added = [{"id": i, "content": s, "special": True} for s, i in specials.items()]
    return {"version": "1.0", "added_tokens": added, "model": {"type": "BPE", "vocab": vocab, "merges": []}}


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """A fresh install: empty caches, no network, and any download attempt fails the test."""
    monkeypatch.setenv("GOSSAMER_HOME", str(tmp_path / "gossamer-home"))
    monkeypatch.setenv("TIKTOKEN_RS_CACHE_DIR", str(tmp_path / "tiktoken-rs-cache"))
    monkeypatch.delenv("TIKTOKEN_ENCODINGS_BASE", raising=False)
    monkeypatch.delenv("GOSSAMER_TIKTOKEN_FILE", raising=False)

    def no_network(*args, **kwargs):
        raise OSError("network blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)

    def no_download():
        raise AssertionError("a download was attempted although a local vocabulary exists")

    monkeypatch.setattr(tokenizer, "_download", no_download)
    reset_encoding_cache()
    yield tmp_path
    reset_encoding_cache()


def no_bpe_openai(monkeypatch):
    monkeypatch.setattr(tokenizer, "_read_bpe_openai", lambda: None)


def test_fresh_install_loads_from_bpe_openai_without_network(offline, caplog):
    with caplog.at_level(logging.INFO, logger="gossamer.harmony.tokenizer"):
        encoding = load_harmony_encoding()
    assert "bpe-openai" in caplog.text
    assert encoding.encode("Hello world") == [13225, 2375]
    cached = offline / "gossamer-home" / "tiktoken" / "o200k_base.tiktoken"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == VOCAB_SHA256
    assert "TIKTOKEN_ENCODINGS_BASE" not in os.environ  # pointed at the cache only while loading
    assert not (offline / "tiktoken-rs-cache").exists()  # openai-harmony downloaded nothing either
    assert load_harmony_encoding() is encoding  # loaded once per process


def test_model_directory_tiktoken_comes_first(offline, monkeypatch, vocab_bytes, caplog):
    model_dir = offline / "model"
    model_dir.mkdir()
    (model_dir / "o200k_base.tiktoken").write_bytes(vocab_bytes)
    no_bpe_openai(monkeypatch)
    with caplog.at_level(logging.INFO, logger="gossamer.harmony.tokenizer"):
        load_harmony_encoding(model_dir)
    assert f"model directory file {model_dir / 'o200k_base.tiktoken'}" in caplog.text


def test_tokenizer_json_fixture_follows_hugging_face_byte_level_convention(tokenizer_json):
    """Hugging Face's own byte-level decoder reads the fixture's vocabulary correctly, so the fixture
    has the shape of the model repos' tokenizer.json (and the derivation is not checked against itself)."""
    from tokenizers import Tokenizer, decoders, models

    hf = Tokenizer(models.BPE(vocab=tokenizer_json["model"]["vocab"], merges=[]))
    hf.decoder = decoders.ByteLevel()
    text = "Zürich 😀 naïve — ok\n\tdone"
    assert hf.decode(encode_text(text)) == text


def test_derived_from_tokenizer_json(offline, monkeypatch, tokenizer_json, vocab_bytes, caplog):
    assert tiktoken_from_tokenizer_json(tokenizer_json) == vocab_bytes
    model_dir = offline / "model"
    model_dir.mkdir()
    (model_dir / "tokenizer.json").write_text(json.dumps(tokenizer_json))
    no_bpe_openai(monkeypatch)
    with caplog.at_level(logging.INFO, logger="gossamer.harmony.tokenizer"):
        encoding = load_harmony_encoding(model_dir)
    assert "derived from" in caplog.text
    assert encoding.decode(encoding.encode("derived vocabulary")) == "derived vocabulary"


def test_tokenizer_json_with_other_ranks_is_rejected(offline, monkeypatch, tokenizer_json):
    model_dir = offline / "model"
    model_dir.mkdir()
    wrong = json.loads(json.dumps(tokenizer_json))
    vocab = wrong["model"]["vocab"]
    a, b = next(k for k, v in vocab.items() if v == 100), next(k for k, v in vocab.items() if v == 101)
    vocab[a], vocab[b] = 101, 100  # two ranks swapped: same size, different vocabulary
    (model_dir / "tokenizer.json").write_text(json.dumps(wrong))
    no_bpe_openai(monkeypatch)
    monkeypatch.setenv("GOSSAMER_OFFLINE", "1")
    with pytest.raises(VocabularyError, match=r"tokenizer\.json: wrong sha256"):
        resolve_vocab_file(model_dir)


def test_explicit_path_from_the_environment(offline, monkeypatch, vocab_bytes, caplog):
    path = offline / "my-vocab.tiktoken"
    path.write_bytes(vocab_bytes)
    monkeypatch.setenv("GOSSAMER_TIKTOKEN_FILE", str(path))
    no_bpe_openai(monkeypatch)
    with caplog.at_level(logging.INFO, logger="gossamer.harmony.tokenizer"):
        load_harmony_encoding()
    assert f"explicit path {path}" in caplog.text


def test_missing_or_corrupt_vocabulary_lists_every_place_tried(offline, monkeypatch, vocab_bytes):
    model_dir = offline / "model"
    model_dir.mkdir()
    (model_dir / "o200k_base.tiktoken").write_bytes(vocab_bytes[:100_000])  # truncated
    (model_dir / "tokenizer.json").write_text("{not json")
    explicit = offline / "missing.tiktoken"
    no_bpe_openai(monkeypatch)
    monkeypatch.setenv("GOSSAMER_OFFLINE", "1")
    with pytest.raises(VocabularyError) as info:
        load_harmony_encoding(model_dir, tiktoken_file=explicit)
    message = str(info.value)
    assert f"explicit path {explicit}: not present" in message
    assert "o200k_base.tiktoken: wrong sha256" in message
    assert "tokenizer.json: unreadable" in message
    assert "bpe-openai package" in message and "download from" in message
    assert "GOSSAMER_TIKTOKEN_FILE" in message


def test_unwritable_cache_directory_falls_back_to_a_temporary_one(offline, monkeypatch):
    home = offline / "read-only-home"
    home.write_text("a file, so nothing can be created beneath it")
    monkeypatch.setenv("GOSSAMER_HOME", str(home))
    path = resolve_vocab_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == VOCAB_SHA256
    assert not path.is_relative_to(home)


def test_fresh_process_with_network_blocked_loads_offline(tmp_path):
    """A new interpreter, empty caches, proxies pointing at a closed port: nothing can download."""
    code = (
        "from gossamer.harmony.tokenizer import load_harmony_encoding, encode_text\n"
        "load_harmony_encoding()\n"
        "print(encode_text('offline ok'))\n"
    )
    closed = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "GOSSAMER_HOME": str(tmp_path / "home"),
        "TIKTOKEN_RS_CACHE_DIR": str(tmp_path / "rs-cache"),
        "HTTP_PROXY": closed,
        "HTTPS_PROXY": closed,
        "https_proxy": closed,
        "http_proxy": closed,
        "NO_PROXY": "",
    }
    env.pop("TIKTOKEN_ENCODINGS_BASE", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(encode_text("offline ok"))
    assert (tmp_path / "home" / "tiktoken" / "o200k_base.tiktoken").is_file()
    assert not (tmp_path / "rs-cache").exists()


def test_special_token_strings_in_text_are_plain_text():
    token_ids = encode_text("a <|start|> b <|end|>")
    assert 200006 not in token_ids and 200007 not in token_ids
    assert decode_text(token_ids) == "a <|start|> b <|end|>"


def test_decode_text_skips_ids_outside_the_vocabulary():
    token_ids = [*encode_text("Hello"), -3, 10**9, *encode_text(" there")]
    assert decode_text(token_ids) == "Hello there"
    assert decode_text([200006]) == "<|start|>"
