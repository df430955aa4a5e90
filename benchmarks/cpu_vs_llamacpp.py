"""gossamer vs llama.cpp on the CPU, side by side, on the same random gpt-oss-shaped weights.

    CMAKE_BUILD_PARALLEL_LEVEL=2 pip install llama-cpp-python gguf   # llama.cpp built from source
    python benchmarks/cpu_vs_llamacpp.py --work-dir /tmp/gossamer-bench            # full 20b shape
    python benchmarks/cpu_vs_llamacpp.py --layers 4 --work-dir /tmp/gossamer-bench  # reduced depth

Steps: (1) write a random checkpoint with gossamer.testing (original layout, MXFP4 experts);
(2) write the same weights as GGUF with the `gguf` package (MXFP4 stays MXFP4, repacked to
ggml's block order; gate and up de-interleaved); (3) check on a small shape that both engines
give the same logits; (4) time both on the same token ids: greedy, end-of-sequence ignored,
fixed prompt and output lengths, the same thread count, one warm-up, the median of all runs.
Each engine runs in its own subprocess so its peak RSS and load time are its own. With --rounds
R the engines take turns R times (a fresh process each, --runs runs each): a shared machine's
bandwidth drifts over minutes, and turns spread that drift over both engines instead of
handing a slow phase to whichever ran second.

The GGUF carries no real tokenizer ("none" vocabulary with the model's vocab size): both
engines are fed token ids, so the tokenizer never runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger("cpu_vs_llamacpp")

REPO_ROOT = Path(__file__).resolve().parent.parent
PROMPT_SEED = 1234
# o200k ordinary tokens: ids below the first special token (199998).
MAX_ORDINARY_TOKEN = 199998


# --------------------------------------------------------------------------- shapes and bytes
def bench_config(layers: int | None):
    from gossamer.model.config import PRESETS

    config = PRESETS["20b"]
    if layers is not None and layers != config.num_layers:
        config = dataclasses.replace(config, num_layers=layers, layer_types=())
    return config


def check_config():
    """Small enough to write and compare in seconds; every feature of the architecture present."""
    from gossamer.model.config import ModelConfig

    return ModelConfig(
        num_layers=2,
        num_experts=8,
        experts_per_token=4,
        vocab_size=201088,
        hidden_size=256,
        intermediate_size=256,
        head_dim=64,
        num_heads=8,
        num_kv_heads=2,
        sliding_window=16,
    )


def bytes_per_decoded_token(config) -> int:
    """Weight bytes one decode step must read: attention, router, k active experts, unembedding."""
    h, inter = config.hidden_size, config.intermediate_size
    attn = (h * (config.q_size + 2 * config.kv_size) + config.q_size * h) * 2  # bf16
    router = config.num_experts * h * 2
    mxfp4_row = lambda cols: cols // 32 * 17  # noqa: E731 - 16 code bytes + 1 scale per 32 values
    experts = config.experts_per_token * (2 * inter * mxfp4_row(h) + h * mxfp4_row(inter))
    return config.num_layers * (attn + router + experts) + config.vocab_size * h * 2


def prompt_ids(num_tokens: int) -> list[int]:
    return np.random.RandomState(PROMPT_SEED).randint(0, MAX_ORDINARY_TOKEN, size=num_tokens).tolist()


# --------------------------------------------------------------------------- GGUF writing
def _ggml_mxfp4(blocks: torch.Tensor, scales: torch.Tensor) -> np.ndarray:
    """gpt-oss MXFP4 [..., C/32, 16] + scales [..., C/32] -> ggml block_mxfp4 bytes [..., C/32 * 17].

    gpt-oss packs element 2j in the low and 2j+1 in the high nibble of byte j; ggml packs
    element j low and j+16 high, with the E8M0 scale byte first.
    """
    codes = torch.stack((blocks & 0x0F, blocks >> 4), dim=-1).flatten(-2)  # [..., C/32, 32] in element order
    packed = codes[..., :16] | (codes[..., 16:] << 4)  # [..., C/32, 16]
    out = torch.cat((scales.unsqueeze(-1), packed), dim=-1)  # [..., C/32, 17]
    return out.flatten(-2).contiguous().numpy()


def _bf16_bytes(t: torch.Tensor) -> np.ndarray:
    return t.to(torch.bfloat16).contiguous().view(torch.uint8).numpy()  # [..., 2 * C]


def _f32(t: torch.Tensor) -> np.ndarray:
    return t.to(torch.float32).contiguous().numpy()


def _gguf_tensors(ckpt: Path, config):
    """Yield (gguf name, numpy array, raw ggml type or None) in file order, one tensor at a time."""
    import gguf
    from safetensors import safe_open

    bf16, mxfp4 = gguf.GGMLQuantizationType.BF16, gguf.GGMLQuantizationType.MXFP4
    with safe_open(str(ckpt / "model.safetensors"), framework="pt") as f:
        yield "token_embd.weight", _bf16_bytes(f.get_tensor("embedding.weight")), bf16
        yield "output_norm.weight", _f32(f.get_tensor("norm.scale")), None
        yield "output.weight", _bf16_bytes(f.get_tensor("unembedding.weight")), bf16
        for i in range(config.num_layers):
            src, dst = f"block.{i}", f"blk.{i}"
            yield f"{dst}.attn_norm.weight", _f32(f.get_tensor(f"{src}.attn.norm.scale")), None
            yield f"{dst}.attn_qkv.weight", _bf16_bytes(f.get_tensor(f"{src}.attn.qkv.weight")), bf16
            yield f"{dst}.attn_qkv.bias", _f32(f.get_tensor(f"{src}.attn.qkv.bias")), None
            yield f"{dst}.attn_sinks.weight", _f32(f.get_tensor(f"{src}.attn.sinks")), None
            yield f"{dst}.attn_output.weight", _bf16_bytes(f.get_tensor(f"{src}.attn.out.weight")), bf16
            yield f"{dst}.attn_output.bias", _f32(f.get_tensor(f"{src}.attn.out.bias")), None
            yield f"{dst}.post_attention_norm.weight", _f32(f.get_tensor(f"{src}.mlp.norm.scale")), None
            yield f"{dst}.ffn_gate_inp.weight", _f32(f.get_tensor(f"{src}.mlp.gate.weight")), None
            yield f"{dst}.ffn_gate_inp.bias", _f32(f.get_tensor(f"{src}.mlp.gate.bias")), None
            # mlp1 rows interleave gate (even) and linear/up (odd); ggml keeps them apart.
            blocks = f.get_tensor(f"{src}.mlp.mlp1_weight.blocks")  # [E, 2I, H/32, 16]
            scales = f.get_tensor(f"{src}.mlp.mlp1_weight.scales")  # [E, 2I, H/32]
            bias = f.get_tensor(f"{src}.mlp.mlp1_bias")  # [E, 2I]
            yield f"{dst}.ffn_gate_exps.weight", _ggml_mxfp4(blocks[:, ::2], scales[:, ::2]), mxfp4
            yield f"{dst}.ffn_gate_exps.bias", _f32(bias[:, ::2]), None
            yield f"{dst}.ffn_up_exps.weight", _ggml_mxfp4(blocks[:, 1::2], scales[:, 1::2]), mxfp4
            yield f"{dst}.ffn_up_exps.bias", _f32(bias[:, 1::2]), None
            del blocks, scales
            yield (
                f"{dst}.ffn_down_exps.weight",
                _ggml_mxfp4(
                    f.get_tensor(f"{src}.mlp.mlp2_weight.blocks"),
                    f.get_tensor(f"{src}.mlp.mlp2_weight.scales"),
                ),
                mxfp4,
            )
            yield f"{dst}.ffn_down_exps.bias", _f32(f.get_tensor(f"{src}.mlp.mlp2_bias")), None


def write_gguf(ckpt: Path, out: Path, config) -> Path:
    """Stream the checkpoint's weights into a GGUF for llama.cpp's gpt-oss architecture."""
    import gguf

    if out.exists():
        return out
    arch = "gpt-oss"
    writer = gguf.GGUFWriter(None, arch)
    writer.add_block_count(config.num_layers)
    writer.add_context_length(config.max_context_length)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_expert_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_heads)
    writer.add_head_count_kv(config.num_kv_heads)
    writer.add_key_length(config.head_dim)
    writer.add_value_length(config.head_dim)
    writer.add_rope_freq_base(config.rope_theta)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_expert_count(config.num_experts)
    writer.add_expert_used_count(config.experts_per_token)
    writer.add_sliding_window(config.sliding_window)
    writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    writer.add_rope_scaling_factor(config.rope_scaling_factor)
    writer.add_rope_scaling_orig_ctx_len(config.initial_context_length)
    writer.add_rope_scaling_yarn_beta_fast(config.rope_ntk_beta)
    writer.add_rope_scaling_yarn_beta_slow(config.rope_ntk_alpha)
    writer.add_vocab_size(config.vocab_size)
    writer.add_tokenizer_model("none")  # ids in, logits out: no tokenizer needed
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    # Pass 1 declares every tensor (shape and type); pass 2 streams the data in the same order.
    for name, array, raw in _gguf_tensors(ckpt, config):
        writer.add_tensor_info(name, array.shape, array.dtype, array.nbytes, raw_dtype=raw)
    tmp = out.with_suffix(".partial")
    writer.open_output_file(tmp)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _, array, _ in _gguf_tensors(ckpt, config):
        writer.write_tensor_data(array)
    writer.close()
    tmp.rename(out)
    return out


def write_models(work_dir: Path, name: str, config) -> tuple[Path, Path]:
    from gossamer.testing.checkpoint import write_checkpoint

    ckpt = work_dir / name
    if not (ckpt / "model.safetensors").exists():
        started = time.perf_counter()
        write_checkpoint(ckpt, config, layout="original", seed=0)
        logger.info("wrote %s in %.0f s", ckpt, time.perf_counter() - started)
    gguf_path = work_dir / f"{name}.gguf"
    if not gguf_path.exists():
        started = time.perf_counter()
        write_gguf(ckpt, gguf_path, config)
        logger.info("wrote %s in %.0f s", gguf_path, time.perf_counter() - started)
    return ckpt, gguf_path


# --------------------------------------------------------------------------- engine workers
def _peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class GossamerRunner:
    def __init__(self, model_path: Path, threads: int) -> None:
        from gossamer.kernels.integrate import use_cpu_kernels
        from gossamer.model.loader import load_model

        torch.set_num_threads(threads)
        self.model = load_model(model_path, dtype=torch.bfloat16)
        # The loader already picks the kernels on the CPU; saying so here keeps the benchmark honest
        # about what it measures (GOSSAMER_KERNELS=0, i.e. --no-kernels, measures the torch path).
        self.kernels = use_cpu_kernels(self.model)

    @torch.inference_mode()
    def logits(self, ids: list[int]) -> np.ndarray:
        from gossamer.model.attention import FullSequenceBackend

        positions = torch.arange(len(ids))
        hidden = self.model(torch.tensor(ids), positions, FullSequenceBackend(positions))  # [N, hidden]
        return self.model.compute_logits(hidden).numpy()  # [N, vocab]

    @torch.inference_mode()
    def generate(self, ids: list[int], num_decode: int) -> tuple[float, float, list[int]]:
        from gossamer.model.attention import ContiguousKVCache

        model = self.model
        cache = ContiguousKVCache(model.config.num_layers, initial_capacity=len(ids) + num_decode + 8)
        started = time.perf_counter()
        hidden = model(torch.tensor(ids), torch.arange(len(ids)), cache)  # [P, hidden]
        token = int(model.compute_logits(hidden[-1:]).argmax())
        prefill_s = time.perf_counter() - started
        out = [token]
        started = time.perf_counter()
        for step in range(num_decode):
            hidden = model(torch.tensor([token]), torch.tensor([len(ids) + step]), cache)  # [1, hidden]
            token = int(model.compute_logits(hidden).argmax())
            out.append(token)
        return prefill_s, time.perf_counter() - started, out


class LlamaCppRunner:
    def __init__(
        self, model_path: Path, threads: int, n_ctx: int, logits_all: bool = False, repack: bool = True
    ) -> None:
        import llama_cpp.llama_cpp as llama_low
        from llama_cpp import Llama

        if not repack:
            # llama.cpp's CPU "extra buffer types" repack the experts at load (faster, ~2x the
            # memory); llama-cpp-python exposes no switch, so turn it off in the default params.
            default_params = llama_low.llama_model_default_params

            def no_repack_params():
                params = default_params()
                params.use_extra_bufts = False
                return params

            llama_low.llama_model_default_params = no_repack_params

        # llama-cpp-python's defaults otherwise (mmap on, flash attention off, CPU repacking on).
        self.llm = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=512,
            n_ubatch=512,
            logits_all=logits_all,
            verbose=False,
        )
        self.n_vocab = self.llm.n_vocab()

    def _last_logits(self) -> np.ndarray:
        return np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.n_vocab,))

    def logits(self, ids: list[int]) -> np.ndarray:
        self.llm.reset()
        self.llm.eval(ids)
        return np.array(self.llm.scores[: len(ids)])  # [N, vocab]

    def generate(self, ids: list[int], num_decode: int) -> tuple[float, float, list[int]]:
        llm = self.llm
        llm.reset()
        started = time.perf_counter()
        llm.eval(ids)
        token = int(self._last_logits().argmax())
        prefill_s = time.perf_counter() - started
        out = [token]
        started = time.perf_counter()
        for _ in range(num_decode):
            llm.eval([token])
            token = int(self._last_logits().argmax())
            out.append(token)
        return prefill_s, time.perf_counter() - started, out


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Runs inside a fresh subprocess: load one engine, then either dump logits or time it."""
    started = time.perf_counter()
    ids = prompt_ids(args.prompt_tokens)
    if args.worker == "gossamer":
        runner: GossamerRunner | LlamaCppRunner = GossamerRunner(Path(args.model), args.threads)
    else:
        runner = LlamaCppRunner(
            Path(args.model),
            args.threads,
            n_ctx=args.prompt_tokens + args.decode_tokens + 16,
            logits_all=args.logits_out is not None,
            repack=args.worker != "llama-norepack",
        )
    load_s = time.perf_counter() - started
    if args.logits_out:
        np.save(args.logits_out, runner.logits(ids).astype(np.float32))
        return {"load_s": load_s}
    runner.generate(ids[:32], 4)  # warm-up: first-touch of weights, kernel compilation, allocator
    prefill, decode, tokens = [], [], []
    for _ in range(args.runs):
        prefill_s, decode_s, out = runner.generate(ids, args.decode_tokens)
        prefill.append(args.prompt_tokens / prefill_s)
        decode.append(args.decode_tokens / decode_s)
        tokens = out
    return {
        "load_s": load_s,
        "kernels": getattr(runner, "kernels", None),
        "prefill_tok_s": prefill,
        "decode_tok_s": decode,
        "tokens": tokens,
        "peak_rss_bytes": _peak_rss_bytes(),
    }


def run_worker(
    engine: str,
    model: Path,
    args: argparse.Namespace,
    logits_out: Path | None = None,
    prompt_tokens: int | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        engine,
        "--model",
        str(model),
        "--threads",
        str(args.threads),
        "--prompt-tokens",
        str(prompt_tokens or args.prompt_tokens),
        "--decode-tokens",
        str(args.decode_tokens),
        "--runs",
        str(args.runs),
    ]
    if logits_out is not None:
        cmd += ["--logits-out", str(logits_out)]
    pythonpath = os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])
    full_env = {**os.environ, "PYTHONPATH": pythonpath, **(env or {})}
    result = subprocess.run(cmd, capture_output=True, text=True, env=full_env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{engine} worker failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the comparison
def check_logits(args: argparse.Namespace) -> dict[str, float]:
    """Both engines on a small shape, all positions of a 40-token prompt (past the sliding window)."""
    config = check_config()
    ckpt, gguf_path = write_models(Path(args.work_dir), "check", config)
    num_tokens = 40
    paths = {engine: Path(args.work_dir) / f"check-{engine}.npy" for engine in ("gossamer", "llama")}
    run_worker("gossamer", ckpt, args, logits_out=paths["gossamer"], prompt_tokens=num_tokens)
    run_worker("llama", gguf_path, args, logits_out=paths["llama"], prompt_tokens=num_tokens)
    ours, theirs = np.load(paths["gossamer"]), np.load(paths["llama"])  # [N, vocab] each
    diff = np.abs(ours - theirs)
    cos = (ours * theirs).sum(-1) / (np.linalg.norm(ours, axis=-1) * np.linalg.norm(theirs, axis=-1))
    # Random weights give many near-ties (bf16 logits can tie exactly); count argmax agreement
    # only where gossamer's top two logits are at least 0.1 apart.
    top2 = np.sort(ours, axis=-1)[:, -2:]  # [N, 2]
    decisive = (top2[:, 1] - top2[:, 0]) >= 0.1
    agree = ours.argmax(-1) == theirs.argmax(-1)
    return {
        "positions": int(ours.shape[0]),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_logit": float(np.abs(ours).max()),
        "median_cosine": float(np.median(cos)),
        "min_cosine": float(cos.min()),
        "argmax_agreement": float(agree.mean()),
        "decisive_positions": int(decisive.sum()),
        "decisive_argmax_agreement": float(agree[decisive].mean()) if decisive.any() else 1.0,
    }


def read_bandwidth_gbs(threads: int) -> float:
    """Read bandwidth as torch's parallel sum over 1 GiB of float32 (median of 5)."""
    torch.set_num_threads(threads)
    x = torch.ones(1 << 28, dtype=torch.float32)
    x.sum()
    times = []
    for _ in range(5):
        started = time.perf_counter()
        x.sum()
        times.append(time.perf_counter() - started)
    return x.numel() * 4 / statistics.median(times) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default="/tmp/gossamer-bench")
    parser.add_argument("--layers", type=int, default=None, help="reduce the 20b shape's depth (default: 24)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per engine process")
    parser.add_argument("--rounds", type=int, default=1, help="times the engines take turns")
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--engines", default="gossamer,llama",
                        help="comma list of gossamer, llama (default mode) and llama-norepack")
    parser.add_argument("--json-out", default=None)
    parser.add_argument("--no-kernels", action="store_true", help="time gossamer's pure-torch path")
    parser.add_argument("--worker", choices=["gossamer", "llama", "llama-norepack"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--logits-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "decode_tokens": args.decode_tokens,
        "runs": args.runs,
        "rounds": args.rounds,
    }
    if not args.skip_check:
        check = check_logits(args)
        report["logits_check"] = check
        print(f"logits check (2-layer, hidden 256, 40 tokens): {json.dumps(check)}")
        if check["decisive_argmax_agreement"] < 1.0 or check["median_cosine"] < 0.9999:
            raise SystemExit("the engines disagree on the small model's logits; not timing anything")
    config = bench_config(args.layers)
    name = "20b" if args.layers is None else f"20b-{args.layers}layers"
    ckpt, gguf_path = write_models(Path(args.work_dir), name, config)
    report["model"] = name
    report["bytes_per_token"] = bytes_per_decoded_token(config)
    report["read_bandwidth_gbs"] = read_bandwidth_gbs(args.threads)
    results: dict[str, dict[str, Any]] = {}
    for round_index in range(args.rounds):
        for engine in args.engines.split(","):
            logger.info("timing %s (round %d of %d)", engine, round_index + 1, args.rounds)
            env = {"GOSSAMER_KERNELS": "0"} if args.no_kernels and engine == "gossamer" else None
            measured = run_worker(engine, ckpt if engine == "gossamer" else gguf_path, args, env=env)
            results[engine] = merge_rounds(results.get(engine), measured)
            if args.json_out:  # keep what was measured even if a later engine fails
                Path(args.json_out).write_text(json.dumps({**report, "results": results}, indent=2))
    report["results"] = results
    print_table(report)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2))


def merge_rounds(so_far: dict[str, Any] | None, measured: dict[str, Any]) -> dict[str, Any]:
    """One engine's results over rounds: every run's rates, per-round medians, the worst RSS and
    the median load time; the tokens of the last round (every round decodes the same ids)."""
    if so_far is None:
        so_far = {"decode_tok_s": [], "prefill_tok_s": [], "round_decode_tok_s": [], "load_s_all": [],
                  "peak_rss_bytes": 0}
    merged = {
        **so_far,
        "kernels": measured.get("kernels"),
        "decode_tok_s": so_far["decode_tok_s"] + measured["decode_tok_s"],
        "prefill_tok_s": so_far["prefill_tok_s"] + measured["prefill_tok_s"],
        "round_decode_tok_s": [*so_far["round_decode_tok_s"], statistics.median(measured["decode_tok_s"])],
        "load_s_all": [*so_far["load_s_all"], measured["load_s"]],
        "peak_rss_bytes": max(so_far["peak_rss_bytes"], measured["peak_rss_bytes"]),
        "tokens": measured["tokens"],
    }
    merged["load_s"] = statistics.median(merged["load_s_all"])
    return merged


def print_table(report: dict[str, Any]) -> None:
    results, per_token = report["results"], report["bytes_per_token"]
    bandwidth = report["read_bandwidth_gbs"]
    print(
        f"\nmodel {report['model']}, {report['threads']} threads, prompt {report['prompt_tokens']}, "
        f"decode {report['decode_tokens']}, median of {report['runs']} runs x {report.get('rounds', 1)} "
        f"rounds; "
        f"{per_token / 1e9:.2f} GB read per decoded token; measured read bandwidth {bandwidth:.1f} GB/s"
    )
    print("| engine | decode tok/s | prefill tok/s | peak RSS GB | load s | decode GB/s | % of bandwidth |")
    print("|---|---|---|---|---|---|---|")
    medians = {}
    for engine, r in results.items():
        decode, prefill = statistics.median(r["decode_tok_s"]), statistics.median(r["prefill_tok_s"])
        medians[engine] = (decode, prefill, r["peak_rss_bytes"], r["load_s"])
        gbs = decode * per_token / 1e9
        label = {"llama": "llama.cpp", "llama-norepack": "llama.cpp (no repack)"}.get(engine, engine)
        if r.get("kernels") is False:
            label += " (pure torch)"
        print(
            f"| {label} | {decode:.2f} | {prefill:.1f} | {r['peak_rss_bytes'] / 1e9:.2f} "
            f"| {r['load_s']:.1f} | {gbs:.1f} | {100 * gbs / bandwidth:.0f}% |"
        )
    for other in ("llama", "llama-norepack"):
        if "gossamer" not in medians or other not in medians:
            continue
        g, ll = medians["gossamer"], medians[other]
        name = {"llama": "llama.cpp", "llama-norepack": "llama.cpp (no repack)"}[other]
        print(
            f"gossamer / {name}: decode {g[0] / ll[0]:.2f}x, prefill {g[1] / ll[1]:.2f}x, "
            f"peak RSS {g[2] / ll[2]:.2f}x, load {g[3] / ll[3]:.2f}x"
        )
        rounds = zip(results["gossamer"]["round_decode_tok_s"], results[other]["round_decode_tok_s"],
                     strict=False)
        print(f"decode ratio per round (gossamer / {name}): " + ", ".join(f"{a / b:.2f}" for a, b in rounds))
        ours, theirs = results["gossamer"]["tokens"], results[other]["tokens"]
        same = sum(a == b for a, b in zip(ours, theirs, strict=False))
        print(f"greedy tokens identical to {name}: {same}/{len(theirs)}")


if __name__ == "__main__":
    main()
