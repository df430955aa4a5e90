"""Evaluate gossamer-tiny on prompts from held-out templates, sampling at temperature 1.0.

    python -m gossamer.tiny.evaluate [--model DIR] [--num 200] [--seed 1234]

The checkpoint is loaded with transformers' GptOssForCausalLM over the full 201088-token
vocabulary (so an unseen id that wins a sample shows up as a failure). Each prompt is played like
a server would: sample until <|call|> or <|return|>, run the called tool, render the result back,
sample again. Reported:

- well-formed: every sampled step parses as harmony (valid channels, a call on commentary to a
  function, the turn ends on final with <|return|>);
- right tool: the called functions are the expected ones, or none when no tool fits;
- args valid: share of calls whose JSON arguments validate against the tool's schema;
- answer states result: share of tool-using prompts whose final answer contains the tool's result.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import torch
from openai_harmony import Conversation, HarmonyEncoding, Message, Role

from gossamer.tiny.data import Episode, sample_episode, tool_result_message
from gossamer.tiny.tools import answer_values, simulate

log = logging.getLogger("gossamer.tiny.evaluate")

RETURN, CALL, PAD = 200002, 200012, 199999
CHANNELS = {"analysis", "commentary", "final"}
MAX_STEP_TOKENS = 256
MAX_STEPS = 4


class Sampler:
    """KV-cached ancestral sampling with transformers' GptOssForCausalLM.

    The unembedding has many identical rows (every id the model never saw shares one), so logits
    are computed once per distinct row and sampled with the row's multiplicity added in log space:
    exactly the full 201088-way distribution, at a fraction of the cost on a CPU.
    """

    def __init__(self, model: torch.nn.Module, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.device = device
        weight = model.lm_head.weight.detach()  # [V, d]
        rows, inverse, counts = torch.unique(weight, dim=0, return_inverse=True, return_counts=True)
        self.rows = rows  # [U, d]
        self.log_counts = counts.float().log()  # [U]
        ids = torch.arange(weight.shape[0], device=weight.device)
        first = torch.full((rows.shape[0],), weight.shape[0], dtype=torch.long, device=weight.device)
        self.token_of_row = first.scatter_reduce(0, inverse, ids, reduce="amin")  # [U] lowest id per row

    @classmethod
    def load(cls, model_dir: Path, device: str = "cpu") -> Sampler:
        from transformers import GptOssForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # the CPU "dequantizing MXFP4" notice is expected here
        return cls(GptOssForCausalLM.from_pretrained(model_dir, dtype=torch.float32), device)

    @torch.no_grad()
    def sample(
        self,
        prompt_ids: list[int],
        temperature: float,
        gen: torch.Generator,
        max_tokens: int = MAX_STEP_TOKENS,
    ) -> list[int]:
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        ids = torch.tensor([prompt_ids], device=self.device)  # [1, T]
        out: list[int] = []
        for _ in range(max_tokens):
            hidden = self.model.model(input_ids=ids, cache=cache, use_cache=True).last_hidden_state[
                0, -1
            ]  # [d]
            logits = self.rows @ hidden  # [U] one logit per distinct unembedding row
            if temperature > 0:
                scores = logits.float() / temperature + self.log_counts  # [U]
                row = int(torch.multinomial(torch.softmax(scores, -1).cpu(), 1, generator=gen))
            else:
                row = int(logits.argmax())
            token = int(self.token_of_row[row])
            out.append(token)
            if token in (RETURN, CALL):
                break
            ids = torch.tensor([[token]], device=self.device)
        return out

    @torch.no_grad()
    def sample_batch(
        self, prompts: list[list[int]], temperature: float, max_tokens: int = MAX_STEP_TOKENS
    ) -> list[list[int]]:
        """Sample one step for many prompts at once (left-padded), each up to its first stop token.

        Uses transformers' generate over the full vocabulary (top_k/top_p disabled: plain sampling).
        """
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), PAD, dtype=torch.long)  # [B, T]
        mask = torch.zeros((len(prompts), width), dtype=torch.long)  # [B, T]
        for row, p in enumerate(prompts):
            ids[row, width - len(p) :] = torch.tensor(p)
            mask[row, width - len(p) :] = 1
        kwargs: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            kwargs = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        out = self.model.generate(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            max_new_tokens=max_tokens,
            eos_token_id=[RETURN, CALL],
            pad_token_id=PAD,
            **kwargs,
        )[:, width:].tolist()  # [B, new]
        steps = []
        for row in out:
            stop = next((i for i, t in enumerate(row) if t in (RETURN, CALL)), None)
            steps.append(row if stop is None else row[: stop + 1])
        return steps


@dataclass
class Outcome:
    well_formed: bool = True
    right_tools: bool = False
    calls: list[tuple[str, Any]] = field(default_factory=list)  # (name, parsed args or None)
    args_valid: list[bool] = field(default_factory=list)
    answer_ok: bool | None = None  # None: no tool was expected
    final: str | None = None
    problem: str | None = None


def _parse_step(enc: HarmonyEncoding, tokens: list[int]) -> tuple[list[Message] | None, str | None]:
    if not tokens or tokens[-1] not in (RETURN, CALL):
        return None, "no stop token"
    try:
        messages = enc.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT, strict=True)
    except Exception as exc:  # openai-harmony raises its own HarmonyError and ValueError subtypes
        return None, f"parse error: {exc}"
    if not messages:
        return None, "no message"
    for msg in messages:
        if msg.channel not in CHANNELS:
            return None, f"bad channel {msg.channel!r}"
    last = messages[-1]
    if tokens[-1] == CALL:
        if last.channel != "commentary" or not (last.recipient or "").startswith("functions."):
            return None, "call not addressed to functions.* on commentary"
    elif last.channel != "final":
        return None, "turn ended outside final"
    return messages, None


class Play:
    """One held-out prompt played like a server: sample, run the called tool, sample again."""

    def __init__(self, ep: Episode, rng: random.Random) -> None:
        self.ep, self.rng = ep, rng
        self.outcome = Outcome()
        self.history = ep.prompt_messages()
        self.tools = {t.name: t for t in ep.tools}
        self.results: dict[int, dict[str, Any]] = {}  # expected call index -> the result it got
        self.num_steps = 0
        self.done = False

    def prompt(self, enc: HarmonyEncoding) -> list[int]:
        return enc.render_conversation_for_completion(
            Conversation.from_messages(self.history), Role.ASSISTANT
        )

    def consume(self, enc: HarmonyEncoding, tokens: list[int]) -> None:
        """Take one sampled step (up to and including <|call|> or <|return|>)."""
        outcome, ep = self.outcome, self.ep
        self.num_steps += 1
        messages, problem = _parse_step(enc, tokens)
        if messages is None:
            outcome.well_formed, outcome.problem, self.done = False, problem, True
            return
        self.history += messages
        last = messages[-1]
        if tokens[-1] == RETURN:
            outcome.final = "".join(c.text for c in last.content if hasattr(c, "text"))
            self._finish()
            return
        if self.num_steps >= MAX_STEPS:
            outcome.well_formed, outcome.problem, self.done = False, "too many steps", True
            return
        name = (last.recipient or "").removeprefix("functions.")
        text = "".join(c.text for c in last.content if hasattr(c, "text"))
        try:
            args = json.loads(text)
        except json.JSONDecodeError:
            args = None
        outcome.calls.append((name, args))
        tool = self.tools.get(name)
        valid = tool is not None and args is not None
        if valid:
            try:
                jsonschema.validate(args, tool.parameters)
            except jsonschema.ValidationError:
                valid = False
        outcome.args_valid.append(valid)
        # The tool answers when the call is one the request needs (in any order), else reports an error.
        match = next(
            (
                i
                for i, c in enumerate(ep.calls)
                if i not in self.results and name == c.schema.name and args == c.arguments
            ),
            None,
        )
        if match is not None and valid:
            result = self.results[match] = simulate(
                ep.calls[match].schema.kind, ep.calls[match].slots, self.rng
            )
        else:
            result = {"error": "invalid request"}
        self.history.append(tool_result_message(name or "unknown", result))

    def _finish(self) -> None:
        self.done = True
        outcome, ep = self.outcome, self.ep
        called = [name for name, _ in outcome.calls]
        outcome.right_tools = Counter(called) == Counter(c.schema.name for c in ep.calls)
        if ep.calls:
            wanted = [
                v for i, res in self.results.items() for v in answer_values(ep.calls[i].schema.kind, res)
            ]
            outcome.answer_ok = (
                len(self.results) == len(ep.calls)
                and outcome.final is not None
                and all(v in outcome.final for v in wanted)
            )


def evaluate(
    model_dir: Path,
    num: int,
    seed: int,
    temperature: float,
    device: str = "cpu",
    show: int = 0,
    batch_size: int = 50,
) -> dict[str, float]:
    from gossamer.tiny.encoding import harmony_encoding

    enc = harmony_encoding()
    sampler = Sampler.load(model_dir, device)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    plays = [Play(sample_episode(rng, held_out=True), random.Random(rng.getrandbits(64))) for _ in range(num)]
    started = time.monotonic()
    for round_ in range(MAX_STEPS):
        active = [p for p in plays if not p.done]
        for b in range(0, len(active), batch_size):
            chunk = active[b : b + batch_size]
            steps = sampler.sample_batch([p.prompt(enc) for p in chunk], temperature)
            for play, tokens in zip(chunk, steps, strict=True):
                play.consume(enc, tokens)
            log.info(
                "round %d: %d/%d prompts sampled (%.0f s)",
                round_ + 1,
                b + len(chunk),
                len(active),
                time.monotonic() - started,
            )
    outcomes = [(p.ep, p.outcome) for p in plays]
    all_valid = [v for _, o in outcomes for v in o.args_valid]
    with_tools = [o for ep, o in outcomes if ep.calls]
    report = {
        "prompts": num,
        "well_formed": sum(o.well_formed for _, o in outcomes) / num,
        "right_tool": sum(o.right_tools for _, o in outcomes) / num,
        "args_valid": sum(all_valid) / max(1, len(all_valid)),
        "answer_states_result": sum(bool(o.answer_ok) for o in with_tools) / max(1, len(with_tools)),
        "num_calls": len(all_valid),
        "num_tool_prompts": len(with_tools),
        "seconds": round(time.monotonic() - started, 1),
    }
    failures = [
        (ep, o)
        for ep, o in outcomes
        if not (o.well_formed and o.right_tools and all(o.args_valid) and o.answer_ok is not False)
    ]
    for ep, o in failures[:show]:
        log.info(
            "FAIL user=%r expected=%s calls=%s final=%r problem=%s",
            ep.user,
            [c.schema.name for c in ep.calls],
            o.calls,
            o.final,
            o.problem,
        )
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="checkpoint directory (default: gossamer-tiny)"
    )
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=50, help="prompts sampled together")
    parser.add_argument("--show-failures", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.model is None:
        from gossamer.tiny import model_path

        args.model = model_path()
    report = evaluate(
        args.model, args.num, args.seed, args.temperature, args.device, args.show_failures, args.batch_size
    )
    targets = {"well_formed": 0.98, "right_tool": 0.95, "args_valid": 0.95, "answer_states_result": 0.90}
    print(f"gossamer-tiny evaluation: {report['prompts']} held-out prompts, temperature {args.temperature}")
    for key, target in targets.items():
        mark = "ok" if report[key] >= target else "BELOW TARGET"
        print(f"  {key:<22} {100 * report[key]:6.1f}%   (target >= {100 * target:.0f}%)  {mark}")
    print(
        f"  ({report['num_tool_prompts']} prompts needed a tool; {report['num_calls']} calls; "
        f"{report['seconds']} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
