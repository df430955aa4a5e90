"""Give a benchmark GGUF the real o200k_harmony vocabulary, so llama.cpp's server can run it.

    python benchmarks/gguf_vocab.py /tmp/gb/20b.gguf /tmp/gb/20b-vocab.gguf

benchmarks/cpu_vs_llamacpp.py writes GGUFs with no tokenizer (ids in, logits out), which the
library API accepts but `llama-server` does not: it detokenizes every token it streams and
asserts on a vocabulary of type "none". This copies a GGUF (tensors byte for byte) adding a
byte-level BPE vocabulary built from o200k_base.tiktoken the way transformers' TikTokenConverter
builds tokenizer.json (merges recovered from the ranks), with harmony's special and reserved
tokens at their ids and llama.cpp's "gpt-4o" pre-tokenizer. Token ids, the only thing the
benchmarks send, mean the same in both engines.
"""

from __future__ import annotations

import argparse
import base64
import logging
from pathlib import Path

logger = logging.getLogger("gguf_vocab")

# harmony's named specials; every other id from 199998 on is "<|reserved_N|>".
SPECIALS = {199998: "<|startoftext|>", 199999: "<|endoftext|>", 200002: "<|return|>", 200003: "<|constrain|>",
            200005: "<|channel|>", 200006: "<|start|>", 200007: "<|end|>", 200008: "<|message|>",
            200012: "<|call|>", 200018: "<|endofprompt|>"}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for every byte (what byte-level BPE vocabularies are spelt in)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def o200k_vocab(tiktoken_file: Path, vocab_size: int) -> tuple[list[str], list[int], list[str]]:
    """(tokens in id order, their llama.cpp token types, merges) for o200k_harmony."""
    import gguf

    ranks = {}
    for line in tiktoken_file.read_text().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    spell = _bytes_to_unicode()

    def text(b: bytes) -> str:
        return "".join(spell[x] for x in b)

    tokens = [""] * vocab_size
    types = [gguf.TokenType.NORMAL] * vocab_size
    merges: list[tuple[int, str]] = []
    for token, rank in ranks.items():
        tokens[rank] = text(token)
        # Every split of a token into two tokens is a merge, ordered by the parts' ranks (TikTokenConverter).
        splits = [(ranks[token[:i]], ranks[token[i:]], i) for i in range(1, len(token))
                  if token[:i] in ranks and token[i:] in ranks]
        merges += [(rank, f"{text(token[:i])} {text(token[i:])}") for _, _, i in sorted(splits)]
    for i in range(len(ranks), vocab_size):
        tokens[i] = SPECIALS.get(i, f"<|reserved_{i}|>")
        types[i] = gguf.TokenType.CONTROL
    merges.sort(key=lambda m: m[0])
    return tokens, [int(t) for t in types], [m for _, m in merges]


def add_vocab(src: Path, dst: Path, tiktoken_file: Path) -> Path:
    import gguf

    reader = gguf.GGUFReader(src)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    vocab_size = int(reader.fields[f"{arch}.vocab_size"].contents())
    writer = gguf.GGUFWriter(dst.with_suffix(".partial"), arch)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith(("GGUF.", "tokenizer.")):
            continue
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub_type)
    tokens, types, merges = o200k_vocab(tiktoken_file, vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-4o")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(199998)
    writer.add_eos_token_id(200002)
    writer.add_pad_token_id(199999)
    writer.add_add_bos_token(False)
    for tensor in reader.tensors:
        writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes,
                               tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data)
    writer.close()
    dst.with_suffix(".partial").rename(dst)
    return dst


def main() -> None:
    from gossamer.harmony.tokenizer import VOCAB_FILE_NAME, vocab_cache_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--tiktoken", type=Path, default=vocab_cache_dir() / VOCAB_FILE_NAME,
                        help="o200k_base.tiktoken (default: gossamer's cached copy)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    add_vocab(args.src, args.dst, args.tiktoken)
    logger.info("wrote %s", args.dst)


if __name__ == "__main__":
    main()
